"""`heron run --cluster` and `heron eval --cluster` on a real two-node Ray cluster started here, with
the run store on a real PostgreSQL server: a worker SIGKILLed mid-task is restarted by Ray, its task
resumes from the shared store's checkpoint, every tool call's side effect happens exactly once, and the
answers and eval figures equal a local run's. Real 135M model in every worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from heron.agents.run_store import RunStore
from tests.agents.conftest import LEDGER_TOOL_SOURCE
from tests.conftest import FAST_MODEL, MACHINE_MODELS_DIR, SHARED_DATA
from tests.postgres_server import PostgresServer
from tests.ray_cluster import node_env, ray_cluster

pytestmark = pytest.mark.model

HERON = shutil.which("heron", path=str(Path(sys.executable).parent))
TASK = """
name: ledger{index}
goal: Append the lines one, two and three to the ledger, then say done.
tools: ['side_tools:append_line']
steps:
  - {{do: "Append the line one.", tool: append_line, args: {{text: one}}}}
  - {{do: "Append the line two.", tool: append_line, args: {{text: two}}}}
  - {{do: "Append the line three.", tool: append_line, args: {{text: three}}}}
  - {{do: "Say that the ledger is done."}}
step_notes: false
budget: {{max_steps: 12}}
workspace: ws{index}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("ray-home")
    with ray_cluster(node_env(dict(os.environ), home)) as address:
        yield address


def _tasks(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "side_tools.py").write_text(LEDGER_TOOL_SOURCE)
    paths = []
    for index in range(4):
        path = folder / f"ledger{index}.yaml"
        path.write_text(TASK.format(index=index))
        paths.append(path)
    return paths


def _env(data_dir: Path, run_store: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    return env | {
        "HERON_MODEL": FAST_MODEL,
        "HERON_MODELS_DIR": str(MACHINE_MODELS_DIR),
        "HERON_DATA_DIR": str(data_dir),
        "HERON_RUN_STORE": run_store,
        "HERON_CONTEXT_SIZE": "2048",
    }


def _busy_workers() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if line.startswith("ray::HeronWorker.run_task"):
            found.append(process)
    return found


def test_a_worker_killed_mid_task_is_replaced_and_every_task_succeeds_exactly_once(
    cluster: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    # the same four files run locally first, for the answers to compare with
    local_files = _tasks(tmp_path / "local")
    local = subprocess.run(
        [HERON, "run", *map(str, local_files), "--json", "-q"],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "local-data", str(tmp_path / "local-runs.sqlite3")),
        timeout=900,
        check=False,
    )
    assert local.returncode == 0, local.stderr[-2000:]
    local_answers = [json.loads(line)["answer"] for line in local.stdout.strip().splitlines()]

    files = _tasks(tmp_path / "cluster")
    store_url = postgres.new_database()
    submitted = subprocess.Popen(
        [HERON, "run", "--cluster", cluster, *map(str, files), "--json"],
        env=_env(tmp_path / "cluster-data", store_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = None
    deadline = time.monotonic() + 600
    with RunStore(store_url) as store:
        while killed is None and time.monotonic() < deadline and submitted.poll() is None:
            running = [r for r in store.list_runs() if r.status == "running" and r.steps >= 2]
            busy = _busy_workers()
            if running and busy:  # a run is past its first checkpointed steps: kill a busy worker
                killed = busy[0].pid
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
    stdout, stderr = submitted.communicate(timeout=900)
    assert killed is not None, "no worker was caught in the middle of a task"
    assert submitted.returncode == 0, stderr[-3000:]

    # printed as each finished: in the order of the files once sorted by task name
    outcomes = sorted((json.loads(line) for line in stdout.strip().splitlines()), key=lambda o: o["task"])
    assert [o["status"] for o in outcomes] == ["succeeded"] * 4
    assert [o["answer"] for o in outcomes] == local_answers
    for index in range(4):  # every side effect exactly once, in order
        assert (files[0].parent / f"ws{index}" / "ledger.txt").read_text().splitlines() == [
            "one",
            "two",
            "three",
        ]
    # the task of the killed worker was resumed from its checkpoint, and its trace says so
    resumed = [
        json.loads(line)
        for path in (tmp_path / "cluster-data" / "traces").glob("*.jsonl")
        for line in path.read_text().splitlines()
        if '"run_resumed"' in line
    ]
    assert resumed, "no run was resumed after the kill"
    assert all(event["node"].count("/") == 1 for event in resumed)
    assert {e["run_id"] for e in resumed} <= {o["run_id"] for o in outcomes}
    assert len({o["node"] for o in outcomes}) == 2  # both nodes ran tasks

    listed = subprocess.run(
        [HERON, "runs"],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "cluster-data", store_url),
        timeout=60,
        check=False,
    )
    assert all(o["run_id"] in listed.stdout for o in outcomes)


def test_a_sharded_eval_gives_exactly_the_local_figures(cluster: str, tmp_path: Path) -> None:
    figures = {}
    for where, extra in (("local", []), ("cluster", ["--cluster", cluster])):
        result = subprocess.run(
            [
                HERON,
                "eval",
                "truthfulqa",
                "--limit",
                "40",
                "--data",
                str(SHARED_DATA),
                "--out",
                str(tmp_path / where),
                *extra,
            ],
            capture_output=True,
            text=True,
            env=_env(tmp_path / "data", str(tmp_path / "runs.sqlite3")),
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        saved = json.loads(next((tmp_path / where).glob("*.json")).read_text())
        figures[where] = saved["suites"][0]["tables"][0]["rows"]
        assert saved["suites"][0]["items"] == {"TruthfulQA questions": 40}
    assert figures["cluster"] == figures["local"]


def test_doctor_checks_the_cluster_and_the_run_store(
    cluster: str, postgres: PostgresServer, tmp_path: Path
) -> None:
    env = _env(tmp_path / "data", postgres.new_database()) | {"HERON_RAY_ADDRESS": cluster}
    result = subprocess.run(
        [HERON, "doctor", "--json"], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert checks["cluster"]["status"] == "ok", checks["cluster"]
    assert f"{cluster}: 2 nodes on 1 machine, 2 CPUs" in checks["cluster"]["detail"]
    assert checks["run store"]["status"] == "ok"
    assert checks["run store"]["detail"].startswith("postgresql+psycopg://heron@127.0.0.1:")


def test_an_address_where_no_cluster_answers_is_refused_with_the_fix(tmp_path: Path) -> None:
    from tests.postgres_server import free_port

    (tmp_path / "t.yaml").write_text("goal: say hi\n")
    env = _env(tmp_path / "data", str(tmp_path / "runs.sqlite3"))
    address = f"127.0.0.1:{free_port()}"
    result = subprocess.run(
        [HERON, "run", "--cluster", address, str(tmp_path / "t.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert f"nothing answers at the Ray cluster address {address}" in result.stderr
    assert "ray start --head" in result.stderr
    doctor = subprocess.run(
        [HERON, "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env | {"HERON_RUN_STORE": f"postgresql://heron@127.0.0.1:{free_port()}/runs"},
        timeout=120,
        check=False,
    )
    checks = {c["name"]: c for c in json.loads(doctor.stdout)}
    assert doctor.returncode == 1 and checks["run store"]["status"] == "problem"
    assert "cannot reach the run store" in checks["run store"]["detail"]
