from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from heron.cli import EXIT_OK, EXIT_USAGE, main
from heron.config import load_settings

HERON = shutil.which("heron", path=str(Path(sys.executable).parent))


def _heron(*args: str) -> subprocess.CompletedProcess[str]:
    assert HERON, "the heron console script is not installed in this venv"
    return subprocess.run([HERON, *args], capture_output=True, text=True, timeout=120, check=False)


def test_version() -> None:
    import heron

    result = _heron("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"heron {heron.__version__}"


def test_help_explains_commands() -> None:
    result = _heron("--help")
    assert result.returncode == 0
    for word in ("doctor", "config", "llama.cpp"):
        assert word in result.stdout


def test_doctor_passes_on_this_machine() -> None:
    result = _heron("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    for name in ("python", "heron", "llama.cpp", "gpu offload", "model", "embeddings", "chroma", "sandbox"):
        assert checks[name]["status"] == "ok", checks[name]
    assert "SmolLM2" in checks["model"]["detail"] or "smollm2" in checks["model"]["detail"].lower()
    assert "MiB" in checks["model"]["detail"]
    assert "embedded" in checks["chroma"]["detail"]


def test_doctor_names_missing_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "models" / "absent.gguf"
    monkeypatch.setenv("HERON_MODEL_PATH", str(missing))
    result = _heron("doctor")
    assert result.returncode == 1
    assert str(missing) in result.stdout
    assert "HERON_MODEL_PATH" in result.stdout  # the fix


def test_doctor_flags_a_file_that_is_not_gguf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"<html>not a model</html>")
    monkeypatch.setenv("HERON_MODEL_PATH", str(fake))
    result = _heron("doctor", "--json")
    model = next(c for c in json.loads(result.stdout) if c["name"] == "model")
    assert result.returncode == 1
    assert model["status"] == "problem" and "not a GGUF" in model["detail"]


def test_bad_setting_exits_with_usage_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HERON_CONTEXT_SIZE", "huge")
    assert main(["doctor"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "context_size" in err and "huge" in err


def test_config_prints_effective_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERON_THREADS", "3")
    result = _heron("config")
    assert result.returncode == 0
    assert "threads = 3" in result.stdout
    assert "[sandbox]" in result.stdout


def test_config_output_is_toml_that_heron_reads_back(isolated_heron: Path) -> None:
    first = _heron("config")
    assert first.returncode == 0, first.stderr
    assert "# model_path = ...  unset" in first.stdout  # no `null`: TOML has none
    (isolated_heron / "heron.toml").write_text(first.stdout)
    second = _heron("config")
    assert second.returncode == 0, second.stderr
    assert tomllib.loads(second.stdout) == tomllib.loads(first.stdout)
    settings_lines = [line for line in second.stdout.splitlines() if not line.startswith("#")]
    assert settings_lines == [line for line in first.stdout.splitlines() if not line.startswith("#")]
    assert str(isolated_heron / "heron.toml") in second.stdout  # the file it read


def test_config_prints_named_servers_and_profiles_that_read_back(isolated_heron: Path) -> None:
    (isolated_heron / "heron.toml").write_text(
        '[mcp.servers.time]\ncommand = "mcp-server-time"\nargs = ["--local-timezone", "UTC"]\n'
        'env = { "A.B" = "x" }\n\n'
        '[serve.profiles.calc]\ntools = ["calculator"]\n'
    )
    first = _heron("config")
    assert first.returncode == 0, first.stderr
    assert "[mcp.servers.time]" in first.stdout and "[serve.profiles.calc]" in first.stdout
    printed = tomllib.loads(first.stdout)
    assert printed["mcp"]["servers"]["time"]["args"] == ["--local-timezone", "UTC"]
    assert printed["mcp"]["servers"]["time"]["env"] == {"A.B": "x"}
    assert "# cwd = ...  unset (folder it starts in" in first.stdout  # each entry's fields described
    assert printed["serve"]["profiles"]["calc"]["tools"] == ["calculator"]
    (isolated_heron / "heron.toml").write_text(first.stdout)  # saved as the docs suggest
    second = _heron("config")
    assert second.returncode == 0, second.stderr
    assert tomllib.loads(second.stdout) == printed


def test_config_writes_values_as_toml() -> None:
    from heron.cli.commands import toml_key, toml_value

    values = {"a": 'C:\\x "q"\n\u00e9 \U0001f426', "b": True, "c": 2.5, "d": [1, "x"], "e": 0}
    values |= {"a key": [{"x y": 1, "z": ["w"]}], "k.y \U0001f426": "del\x7f"}
    text = "\n".join(f"{toml_key(key)} = {toml_value(value)}" for key, value in values.items())
    assert tomllib.loads(text) == values


def _all_commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():  # a group's commands
        yield from _all_commands(sub, (*path, name))


_TYPE_LABEL = re.compile(
    r"<(bool|int|float|str|path|Path|datetime|list\[[^>]*\]|int range|float range)>|\blist\[\w+\]"
)


def test_help_shows_no_internal_type_names(capsys: pytest.CaptureFixture[str]) -> None:
    from heron.cli import _register, app

    _register()
    paths = list(_all_commands(typer.main.get_command(app)))
    assert ("ingest",) in paths and ("eval", "truthfulqa") in paths
    for path in paths:
        assert main([*path, "--help"]) == EXIT_OK, path
        out = capsys.readouterr().out
        assert not _TYPE_LABEL.search(out), (path, out)
        assert "NoneType" not in out and "Optional[" not in out, (path, out)


def test_runs_lists_task_and_sdk_runs_with_headers(capsys: pytest.CaptureFixture[str]) -> None:
    from heron.agents.run_store import RunStore
    from heron.tracing import RunFinishedEvent, RunStartedEvent, Tracer, trace_path

    data_dir = load_settings().data_dir
    with RunStore.in_data_dir(data_dir) as store:
        store.create_run("20250101-120000-task01", "nightly report", "task.yaml", "write the report")
    with Tracer(trace_path(data_dir, "20250102-090000-abc123")) as tracer:
        tracer.emit(
            RunStartedEvent(
                run_id="20250102-090000-abc123", goal="sum the invoices", model="m", tools=[], budget={}
            )
        )
        tracer.emit(
            RunFinishedEvent(
                run_id="20250102-090000-abc123", step=3, status="succeeded", usage={}, seconds=1.0
            )
        )
    with Tracer(trace_path(data_dir, "20250103-090000-def456")) as tracer:
        tracer.emit(
            RunStartedEvent(run_id="20250103-090000-def456", goal="g", model="m", tools=[], budget={})
        )
        tracer.emit(
            RunFinishedEvent(
                run_id="20250103-090000-def456",
                step=8,
                status="budget_exhausted",
                stopped_by="max_steps",
                usage={},
                seconds=1.0,
            )
        )
    chat_id, caller_id = "20250104-090000-chat-a1b2c3", "20250105-090000-abc123"
    with Tracer(trace_path(data_dir, chat_id)) as tracer:  # a ChatSession's two messages
        for goal, steps, status in (("hello", 2, "no_answer"), ("again", 3, "succeeded")):
            tracer.emit(RunStartedEvent(run_id=chat_id, goal=goal, model="m", tools=[], budget={}))
            tracer.emit(
                RunFinishedEvent(
                    run_id=chat_id,
                    step=steps,
                    status=status,
                    usage={"completion_tokens": 10 * steps},
                    seconds=1.5,
                )
            )
    resumed_id = "20250107-090000-aaa111"  # an SDK run cancelled in its first step, then resumed
    with Tracer(trace_path(data_dir, resumed_id)) as tracer:
        for step, status in ((0, "cancelled"), (3, "succeeded")):
            tracer.emit(RunStartedEvent(run_id=resumed_id, goal="resumed", model="m", tools=[], budget={}))
            tracer.emit(RunFinishedEvent(run_id=resumed_id, step=step, status=status, usage={}, seconds=1.0))
    unfinished_id = "20250106-090000-fed987"  # a run killed before its end
    with Tracer(trace_path(data_dir, unfinished_id)) as tracer:
        tracer.emit(RunStartedEvent(run_id=unfinished_id, goal="killed", model="m", tools=[], budget={}))
    sub_id = f"{caller_id}.helper-a1b2c3"
    with Tracer(trace_path(data_dir, caller_id)) as tracer:  # a run that called a sub-agent
        for run_id, goal in ((caller_id, "delegate"), (sub_id, "inner")):
            tracer.emit(RunStartedEvent(run_id=run_id, goal=goal, model="m", tools=[], budget={}))
        for run_id, steps in ((sub_id, 4), (caller_id, 1)):
            tracer.emit(
                RunFinishedEvent(run_id=run_id, step=steps, status="succeeded", usage={}, seconds=1.0)
            )
    with Tracer(trace_path(data_dir, sub_id)) as tracer:  # the sub-agent's own trace file, written apart
        tracer.emit(
            RunStartedEvent(
                run_id=sub_id, goal="inner", model="m", tools=[], budget={}, parent_run_id=caller_id
            )
        )
    assert main(["runs"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert not [line for line in lines if sub_id in line]  # listed in its caller's trace only
    [chat] = [line for line in lines if chat_id in line]
    assert " chat " in chat and "hello (+1 more messages, 1 not succeeded)" in chat and " 5 " in chat
    [caller] = [line for line in lines if caller_id in line]
    assert " agent " in caller and "more messages" not in caller and " 1 " in caller
    assert lines[0].split()[:2] == ["STARTED", "RUN"] and "STATUS" in lines[0] and "KIND" in lines[0]
    [sdk] = [line for line in lines if "20250102-090000-abc123" in line]
    assert " agent " in sdk and "succeeded" in sdk and "sum the invoices" in sdk
    [task] = [line for line in lines if "20250101-120000-task01" in line]
    assert " task " in task and "nightly report" in task
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", task)
    [budget] = [line for line in lines if "20250103-090000-def456" in line]
    assert "budget_exhausted (max_steps)" in budget  # which budget ended it, as `heron run` says
    # the runs API names the runs known by their traces as `heron runs` does, with their steps
    from heron.agents.serve.runs_index import list_runs

    with RunStore.in_data_dir(data_dir) as store:
        api = {row["id"]: row for row in list_runs(data_dir, store, {})}
    assert (api["20250102-090000-abc123"]["kind"], api["20250102-090000-abc123"]["steps"]) == ("agent", 3)
    assert api[chat_id]["kind"] == "chat" and api[caller_id]["kind"] == "agent"
    # a conversation's figures are its messages' sums in both listings; an unfinished run is named alike
    assert (api[chat_id]["steps"], api[chat_id]["tokens"], api[chat_id]["seconds"]) == (5, 50, 3.0)
    assert api[chat_id]["messages"] == 2 and api[caller_id]["steps"] == 1
    [resumed] = [line for line in lines if resumed_id in line]  # one run, not two messages
    assert " succeeded " in resumed and " 3 " in resumed and "more messages" not in resumed
    assert api[resumed_id]["steps"] == 3 and "messages" not in api[resumed_id]
    [killed] = [line for line in lines if unfinished_id in line]
    assert " interrupted " in killed and api[unfinished_id]["status"] == "interrupted"
    assert api["20250101-120000-task01"]["kind"] == "task"


def test_runs_without_runs_says_how_to_start_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs"]) == EXIT_OK
    assert "no runs yet" in capsys.readouterr().out


def test_a_bad_option_is_a_usage_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--limit", "many"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Invalid value for '--limit'" in err and "Traceback" not in err
    assert main(["ingest", "--no-such-option", "x"]) == EXIT_USAGE


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles(monkeypatch: pytest.MonkeyPatch) -> None:
    """HERON_MODLE is passed over by the settings like any variable: the CLI says so on stderr (and
    the command still runs), doctor lists it, and load_settings warns an SDK user."""
    from heron.errors import SettingsWarning

    monkeypatch.setenv("HERON_MODLE", "smollm2-135m")
    monkeypatch.setenv("HERON_SANDBOX__MEMORY_MB", "512")  # a real nested setting: no warning
    monkeypatch.setenv("HERON_RAY_ADDRESS", "auto")  # read by `heron run --cluster`: no warning
    result = _heron("config")
    assert result.returncode == 0, result.stderr
    warned = " ".join(result.stderr.split())
    assert "HERON_MODLE is not a heron setting and is ignored; did you mean HERON_MODEL?" in warned
    assert "MEMORY_MB" not in warned and "RAY_ADDRESS" not in warned
    doctor = json.loads(_heron("doctor", "--json").stdout)
    [line] = [c for c in doctor if c["name"] == "environment"]
    assert line["status"] == "warn" and "HERON_MODLE" in line["detail"]
    with pytest.warns(SettingsWarning, match="HERON_MODLE"):
        load_settings()


def test_a_misspelt_nested_variable_is_refused_with_the_setting_it_resembles(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HERON_AGENT__MAX_STESP", "3")
    assert main(["config"]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.split())
    assert "`agent.max_stesp` = '3' (environment variable HERON_AGENT__MAX_STESP)" in err
    assert "did you mean `agent.max_steps`?" in err


def test_a_data_dir_that_is_a_file_is_named_so_by_doctor_and_the_sdk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from heron.errors import UsageError
    from heron.tools import ToolContext

    a_file = tmp_path / "afile"
    a_file.write_text("")
    monkeypatch.setenv("HERON_DATA_DIR", str(a_file))
    checks = {c["name"]: c for c in json.loads(_heron("doctor", "--json").stdout)}
    assert (
        checks["data dir"]["status"] == "problem"
        and "is a file, not a folder" in checks["data dir"]["detail"]
    )
    assert checks["chroma"]["status"] == "problem" and "is a file" in checks["chroma"]["detail"]
    with pytest.raises(UsageError, match=r"the workspace .* cannot be made: Not a directory"):
        ToolContext(a_file / "workspace")
