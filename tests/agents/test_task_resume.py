"""`heron run`, SIGKILL mid-run, `heron resume`: the run finishes like an uninterrupted one and no
finished tool call runs twice. Real bundled model, real processes, the run store on SQLite and on a
real PostgreSQL server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from heron.agents.run_store import RunStore
from tests.conftest import FAST_MODEL, MACHINE_MODELS_DIR

pytestmark = pytest.mark.model

HERON = shutil.which("heron", path=str(Path(sys.executable).parent))

TASK = """
name: ledger
goal: Append the lines one, two, three and four to the ledger, then say done.
tools: ['side_tools:append_line']
steps:
  - {do: "Append the line one.", tool: append_line, args: {text: one}}
  - {do: "Append the line two.", tool: append_line, args: {text: two}}
  - {do: "Append the line three.", tool: append_line, args: {text: three}}
  - {do: "Append the line four.", tool: append_line, args: {text: four}}
  - {do: "Say that the ledger is done."}
budget: {max_steps: 14}
workspace: ws
checks:
  - file_exists: ledger.txt
"""


def _task(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "task.yaml").write_text(TASK)
    return folder / "task.yaml"


def _env(data_dir: Path, store: str) -> dict[str, str]:
    env = {**os.environ, "HERON_DATA_DIR": str(data_dir), "HERON_CONTEXT_SIZE": "2048"}
    return env | {"HERON_RUN_STORE": store}


def _appends_recorded(store_location: str, run_id: str) -> list[str]:
    with RunStore(store_location) as store:
        state = store.latest_state(run_id)
    assert state is not None
    return [m.content for m in state.messages if m.role == "tool" and m.name == "append_line"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    """An uninterrupted run of the task, for comparison: its outcome and its ledger (run once for
    both run-store backends)."""
    from tests.agents.conftest import LEDGER_TOOL_SOURCE

    folder = tmp_path_factory.mktemp("reference")
    reference_task = _task(folder)
    (folder / "side_tools.py").write_text(LEDGER_TOOL_SOURCE)
    env = _env(folder / "data", str(folder / "runs.sqlite3"))
    env |= {"HERON_MODEL": FAST_MODEL, "HERON_MODELS_DIR": str(MACHINE_MODELS_DIR), "HOME": str(folder)}
    env |= {"XDG_CONFIG_HOME": str(folder / "config")}  # no heron.toml of the machine's user
    reference = subprocess.run(
        [HERON, "run", str(reference_task), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert reference.returncode == 0, reference.stderr[-2000:]
    return json.loads(reference.stdout.strip().splitlines()[-1]), (folder / "ws" / "ledger.txt").read_text()


def test_sigkill_then_resume_finishes_without_repeating_side_effects(
    tmp_path: Path, write_ledger_tool, run_store_location: str, uninterrupted: tuple[dict[str, Any], str]
) -> None:
    expected, expected_ledger = uninterrupted
    task = _task(tmp_path / "killed")
    write_ledger_tool(task.parent, "side_tools")
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [HERON, "run", str(task), "--json"],
        env=_env(data_dir, run_store_location),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_id = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if not run_store_location.endswith(".sqlite3") or Path(run_store_location).exists():
            with RunStore(run_store_location) as store:
                runs = store.list_runs()
                if runs and runs[0].steps >= 3:  # a few steps finished and checkpointed
                    run_id = runs[0].id
                    process.send_signal(signal.SIGKILL)
                    break
        time.sleep(0.02)
    process.wait(timeout=60)
    assert run_id is not None, "the run never reached its third step"
    assert process.returncode == -signal.SIGKILL

    ledger = task.parent / "ws" / "ledger.txt"
    before = ledger.read_text().splitlines()
    assert before == [text.split("'")[1] for text in _appends_recorded(run_store_location, run_id)]
    assert 1 <= len(before) < 4

    with RunStore(run_store_location) as store:
        assert store.get(run_id).status == "running"  # killed: nobody marked it finished
    listed = subprocess.run(
        [HERON, "runs"],
        capture_output=True,
        text=True,
        env=_env(data_dir, run_store_location),
        timeout=60,
        check=False,
    )
    assert run_id in listed.stdout and "running" in listed.stdout

    resumed = subprocess.run(
        [HERON, "resume", run_id, "--json"],
        capture_output=True,
        text=True,
        env=_env(data_dir, run_store_location),
        timeout=600,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    outcome = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "succeeded"
    # every side effect happened exactly once, in order, like the uninterrupted run
    assert ledger.read_text().splitlines() == ["one", "two", "three", "four"]
    assert ledger.read_text() == expected_ledger
    assert outcome["answer"] == expected["answer"]
    assert len(_appends_recorded(run_store_location, run_id)) == 4
    again = subprocess.run(
        [HERON, "resume", run_id],
        capture_output=True,
        text=True,
        env=_env(data_dir, run_store_location),
        timeout=60,
        check=False,
    )
    assert again.returncode == 2 and "already finished" in again.stderr
