"""One run, one driver: every process that takes a run up (start, `heron resume`, a cluster retry)
gets a new attempt number from the run store, and the writes of an older attempt are refused, so a
worker that was only presumed dead cannot write over its successor. ``run_or_resume`` (what a
retried cluster call does) picks the run up however far it got. Scripted model (orchestration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.agents.run_store import RunStore
from heron.agents.runner import TaskRunner
from heron.agents.state import RunState
from heron.config import load_settings
from heron.errors import RunTakenOverError, TaskFileError
from heron.llm import ScriptedLLM
from heron.tracing import read_trace

TAKE_OVER_TOOL = '''
from pathlib import Path

from heron import ToolContext, tool
from heron.agents.run_store import RunStore
from heron.config import load_settings


@tool
def take_over(ctx: ToolContext) -> str:
    """Stand for a second process that resumes this run while it is still running (once)."""
    marker = ctx.workspace / "taken"
    if not marker.exists():
        marker.write_text("yes")
        with RunStore.from_settings(load_settings()) as store:
            (running,) = [r for r in store.list_runs() if r.status == "running"]
            store.claim(running.id, node="node-b")
    return "done"
'''
TASK = """
name: takeover
goal: Add 1 and 2, then take the run over, then say done.
tools: [calculator, 'side:take_over']
step_notes: false
budget: {max_steps: 6}
workspace: ws
"""


def call(name: str, **arguments: object) -> dict:
    return {"action": name, "arguments": arguments}


def answer(text: str) -> dict:
    return {"action": "final_answer", "answer": text, "citations": []}


@pytest.fixture
def task(tmp_path: Path) -> Path:
    (tmp_path / "side.py").write_text(TAKE_OVER_TOOL)
    path = tmp_path / "takeover.yaml"
    path.write_text(TASK)
    return path


def test_a_run_taken_over_mid_run_stops_the_first_driver_and_the_second_finishes_it(task: Path) -> None:
    settings = load_settings()
    first = ScriptedLLM([call("calculator", expression="1+2"), call("take_over"), answer("too late")])
    with TaskRunner(settings, first, node="node-a") as runner, pytest.raises(RunTakenOverError) as caught:
        runner.run(task)
    assert "taken over by attempt 2 on node-b" in str(caught.value)
    with RunStore.from_settings(settings) as store:
        (record,) = store.list_runs()
        # the first driver's step after the take-over left nothing: no answer, its checkpoint refused
        assert (record.status, record.attempt, record.node, record.answer) == ("running", 2, "node-b", None)
        assert (record.steps, record.kv_node) == (1, "node-a")
        assert Path(record.kv_state or "").name == "kv-node-a.state"

    second = ScriptedLLM([call("take_over"), answer("done")])
    with TaskRunner(settings, second, node="node-b") as runner:
        outcome = runner.resume(record.id)
    assert (outcome.status, outcome.answer, outcome.node) == ("succeeded", "done", "node-b")
    with RunStore.from_settings(settings) as store:
        final = store.get(record.id)
    assert (final.status, final.attempt, final.kv_node) == ("succeeded", 3, "node-b")
    resumed = [e for e in read_trace(Path(outcome.trace_path)) if e.type == "run_resumed"]
    assert [(e.kv_cache, e.reason) for e in resumed] == [
        ("re-evaluated", "the saved KV state belongs to node node-a")
    ]


def test_run_or_resume_starts_a_run_that_was_created_but_never_checkpointed(task: Path) -> None:
    # a worker that died between recording the run and its first checkpoint
    settings = load_settings()
    with RunStore.from_settings(settings) as store:
        store.create_run("takeover-0001", "takeover", str(task), "goal", node="node-a")
    llm = ScriptedLLM([call("calculator", expression="1+2"), call("take_over"), answer("done")])
    (task.parent / "ws").mkdir()
    (task.parent / "ws" / "taken").write_text("yes")  # (the tool then only answers)
    with TaskRunner(settings, llm, node="node-b") as runner:
        outcome = runner.run_or_resume(task, "takeover-0001")
    assert (outcome.run_id, outcome.status, outcome.answer) == ("takeover-0001", "succeeded", "done")
    with RunStore.from_settings(settings) as store:
        record = store.get("takeover-0001")
    assert (record.status, record.attempt, record.node) == ("succeeded", 2, "node-b")


def test_run_or_resume_of_a_finished_run_returns_its_stored_outcome_without_running_it(task: Path) -> None:
    settings = load_settings()
    llm = ScriptedLLM([call("calculator", expression="1+2"), call("take_over"), answer("done")])
    (task.parent / "ws").mkdir()
    (task.parent / "ws" / "taken").write_text("yes")
    with TaskRunner(settings, llm) as runner:
        first = runner.run(task)
    idle = ScriptedLLM([])  # any model call would fail: there are no replies
    with TaskRunner(settings, idle) as runner:
        again = runner.run_or_resume(task, first.run_id)
    assert idle.calls == []
    assert (again.status, again.answer, again.steps, again.run_id) == (
        "succeeded",
        "done",
        first.steps,
        first.run_id,
    )


def test_a_stored_outcome_still_says_its_answer_was_cut(task: Path) -> None:
    settings = load_settings()
    cut = "w" * 995  # ends within 10 characters of the default answer_chars (1000)
    with TaskRunner(settings, ScriptedLLM([call("calculator", expression="1+2"), answer(cut)])) as runner:
        first = runner.run(task)
    with TaskRunner(settings, ScriptedLLM([])) as runner:
        again = runner.run_or_resume(task, first.run_id)
    assert first.answer_cut and again.answer_cut and again.answer == cut


def test_an_unexpected_error_ends_the_run_as_error_with_its_type_and_it_stays_resumable(task: Path) -> None:
    settings = load_settings()
    failing = ScriptedLLM([call("calculator", expression="1+2"), RuntimeError("the disk is full")])
    with TaskRunner(settings, failing) as runner:
        outcome = runner.run(task)
    assert (outcome.status, outcome.exit_code) == ("error", 1)
    assert outcome.error.startswith("RuntimeError: the disk is full (unexpected")
    with RunStore.from_settings(settings) as store:
        assert (store.get(outcome.run_id).status, store.get(outcome.run_id).steps) == ("error", 1)
    (task.parent / "ws" / "taken").write_text("yes")
    with TaskRunner(settings, ScriptedLLM([call("take_over"), answer("3")])) as runner:
        assert runner.resume(outcome.run_id).status == "succeeded"


def test_a_run_taken_up_whose_agent_cannot_be_set_up_is_stored_as_error_not_left_running(
    tmp_path: Path,
) -> None:
    # a cluster retry (or `heron resume`) that claims the run, then fails before driving it
    settings = load_settings()
    task = tmp_path / "moved.yaml"
    task.write_text("name: moved\ngoal: Say hi.\ntools: ['moved_tools_x7:hello']\nworkspace: ws\n")
    with RunStore.from_settings(settings) as store:
        attempt = store.create_run("moved-0001", "moved", str(task), "Say hi.", node="node-a")
        store.checkpoint(RunState(run_id="moved-0001", goal="Say hi.", step=1), attempt=attempt)
        store.set_status("moved-0001", "interrupted", attempt=attempt)
    with (
        TaskRunner(settings, ScriptedLLM([]), node="node-b") as runner,
        pytest.raises(TaskFileError) as caught,
    ):
        runner.run_or_resume(task, "moved-0001")
    with RunStore.from_settings(settings) as store:
        record = store.get("moved-0001")
    assert (record.status, record.attempt, record.node) == ("error", 2, "node-b")
    assert record.error == str(caught.value) and "cannot import 'moved_tools_x7'" in record.error
