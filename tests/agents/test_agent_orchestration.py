"""The agent's orchestration with the scripted fake LLM: no model, exact control of every turn."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from heron.agents.actions import ToolCallAction
from heron.agents.agent import Agent
from heron.agents.approval import ApprovalRequest, ApprovalResult, approve_all
from heron.agents.budget import Budget
from heron.agents.config import AgentConfig
from heron.agents.policies import TOOLS_ONLY, Allowed, Turn, TurnPolicy
from heron.agents.state import PlanStep, RunState
from heron.errors import OutputTruncatedError, RunCancelledError, UsageError
from heron.llm import ScriptedLLM
from heron.tools import Risk, Tool, ToolResult, tool
from heron.tracing import AnswerEvent, read_trace


def call(tool: str, **arguments: object) -> dict:
    return {"action": tool, "arguments": arguments}


def answer(text: str, *citations: str) -> dict:
    return {"action": "final_answer", "answer": text, "citations": list(citations)}


def note(text: str, *citations: str) -> dict:
    """A plan step's note of what its call found (AgentConfig.step_notes)."""
    return {"action": "step_done", "answer": text, "citations": list(citations)}


def _agent(llm: ScriptedLLM, tools: list, **config: object) -> Agent:
    return Agent(llm, tools=tools, config=AgentConfig(**config))  # type: ignore[arg-type]


def test_tool_call_then_answer(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM([call("add", a=2, b=40), answer("42")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("What is 2 + 40?")
    assert result.answer == "42" and result.stopped_by == "answer" and result.steps == 1
    assert ledger.read_text() == "add 2 40\n"
    # the tool result reached the model in the second turn, after the frozen prefix
    second = llm.calls[1].messages
    assert second[0] == llm.calls[0].messages[0] and second[1] == llm.calls[0].messages[1]
    assert second[-1].role == "tool" and "42" in second[-1].content and "budget left" in second[-1].content
    kinds = [e.type for e in read_trace(result.trace_path)]
    assert kinds == [
        "run_started",
        "model_turn",
        "tool_call",
        "tool_result",
        "model_turn",
        "answer",
        "run_finished",
    ]


def test_the_repetition_penalty_leaves_alone_the_arguments_tools_declare_data(tmp_path: Path) -> None:
    from heron.tools.builtin import calculator, python_tool, write_file

    llm = ScriptedLLM([answer("hi"), answer("hi"), answer("hi")])
    with Agent(llm, tools=[calculator, write_file, python_tool], workspace=tmp_path) as agent:
        agent.run("hello")
    control = llm.calls[0].options.repetition
    assert control is not None and control.free_keys == ("code", "content")
    assert control.allowed_length == AgentConfig().repetition.allowed_length  # the rest as configured
    with Agent(llm, tools=[calculator], workspace=tmp_path) as agent:
        agent.run("hello")
    assert llm.calls[1].options.repetition == AgentConfig().repetition
    with Agent(llm, tools=[write_file], config=AgentConfig(repetition=None), workspace=tmp_path) as agent:
        agent.run("hello")
    assert llm.calls[2].options.repetition is None  # off stays off


def test_grammar_admits_each_tool_and_the_answer(demo_tools: list) -> None:
    llm = ScriptedLLM([answer("hi")])
    with _agent(llm, demo_tools) as agent:
        agent.run("hello")
    schema = llm.calls[0].schema
    objects = [alt for alt in schema["anyOf"] if alt.get("type") == "object"]
    assert [alt["properties"]["action"]["const"] for alt in objects] == [
        "add",
        "delete_everything",
        "final_answer",
    ]
    assert objects[0]["properties"]["arguments"]["required"] == ["a", "b"]
    assert len(objects) == len(schema["anyOf"])


def test_the_tool_list_shows_each_argument_description_and_omits_the_line_without_any() -> None:
    @tool
    def area(base: float, height: float, unit: str = "cm") -> float:
        """Area of a triangle.

        Args:
            base: the base of the triangle
            height: its height,
                measured from the base
        """
        return base * height / 2

    @tool
    def volume(area: float, depth: float = 1.0, unit: str = "cm") -> float:
        """Volume of a prism.

        Args:
            area: the base area
            depth: how deep it is
            unit: "cm" or "in"
        """
        return area * depth

    @tool
    def now() -> str:
        """The current time."""
        return "noon"

    llm = ScriptedLLM([answer("hi")])
    with _agent(llm, [area, now, volume]) as agent:
        agent.run("hello")
    system = llm.calls[0].messages[0].content
    notes = 'area: the base area; depth: how deep it is (default 1.0); unit: "cm" or "in" (default "cm")'
    assert f"  Arguments: {notes}" in system  # an optional argument's note says what leaving it out does
    listed = system[system.index("- area(") :]
    assert listed.splitlines()[1] == (
        "  Arguments: base: the base of the triangle; height: its height, measured from the base"
    )  # unit has no description: no note, and so no default shown either
    assert "- now(): The current time.\n" in system and system.count("Arguments:") == 2


def test_invalid_arguments_get_a_retry_hint_naming_the_field(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM([call("add", a="two", b=3), call("add", a=2, b=3), answer("5")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("2+3?")
    hint = llm.calls[1].messages[-1].content
    assert "invalid call" in hint and "a" in hint
    assert ledger.read_text() == "add 2 3\n"  # the invalid call never ran
    assert result.answer == "5"


def test_a_turn_that_only_repeats_an_earlier_call_is_taken_again_without_its_tool(
    demo_tools: list, ledger: Path
) -> None:
    llm = ScriptedLLM([call("add", a=1, b=1), call("add", a=1, b=1), answer("2")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("1+1?")
    assert ledger.read_text() == "add 1 1\n"  # the repeat was not made
    retaken = llm.calls[2]
    assert retaken.messages == llm.calls[1].messages  # the repeat is not in the history
    assert '"add"' not in json.dumps(retaken.schema) and "final_answer" in json.dumps(retaken.schema)
    assert (result.status, result.stopped_by, result.answer) == ("succeeded", "answer", "2")
    set_aside = [e for e in read_trace(result.trace_path) if e.type == "repeat_set_aside"]
    assert [(e.step, e.tools) for e in set_aside] == [(2, ["add"])]


def test_a_backend_that_ignores_the_grammar_and_repeats_gets_a_hint_not_endless_retakes(
    demo_tools: list, ledger: Path
) -> None:
    """A scripted model writes the same call whatever the grammar offers: set aside once, then the
    answer-only retake still names it; that repeat is hinted, never set aside again."""
    llm = ScriptedLLM([call("add", a=1, b=1)] * 4 + [answer("2")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("1+1?")
    assert ledger.read_text() == "add 1 1\n" and result.answer == "2"
    assert len(llm.calls) == 5 and "repeated call" in llm.calls[4].messages[-1].content


def test_repeated_call_gets_a_hint_then_the_third_ends_the_loop(demo_tools: list, ledger: Path) -> None:
    """Where no answer is offered to turn to instead (here every turn must call a tool), a repeat
    is answered with a hint, and the third identical call ends the loop."""
    llm = ScriptedLLM([call("add", a=1, b=1)] * 3 + [answer("2")])
    with _agent(llm, demo_tools, tool_choice="required") as agent:
        result = agent.run("1+1?")
    assert ledger.read_text() == "add 1 1\n"  # ran once; the repeats were answered with hints
    assert "repeated call" in llm.calls[2].messages[-1].content
    assert result.stopped_by == "repeated_call" and result.answer == "2"
    final_schema = llm.calls[3].schema
    assert final_schema["properties"]["action"]["const"] == "final_answer"  # only an answer was possible


def test_budget_end_forces_a_flagged_final_answer(demo_tools: list) -> None:
    llm = ScriptedLLM([call("add", a=1, b=2), call("add", a=3, b=4), answer("best effort: 7")])
    with _agent(llm, demo_tools, budget=Budget(max_steps=2)) as agent:
        result = agent.run("sum things")
    assert result.stopped_by == "max_steps" and result.budget_exhausted
    assert result.answer == "best effort: 7"
    assert "stopping: max_steps" in llm.calls[2].messages[-1].content
    assert "anyOf" not in llm.calls[2].schema  # tools were no longer admitted
    events = read_trace(result.trace_path)
    assert events[-1].status == "budget_exhausted"


def test_risky_tool_denied_by_default(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM([call("delete_everything", path="/"), answer("I could not.")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("clean up")
    assert not ledger.exists()
    assert "did not approve" in llm.calls[1].messages[-1].content
    approval = next(e for e in read_trace(result.trace_path) if e.type == "approval")
    assert approval.decision == "denied"


def test_approval_can_edit_arguments(demo_tools: list, ledger: Path) -> None:
    seen: list[ApprovalRequest] = []

    def safer(request: ApprovalRequest) -> ApprovalResult:
        seen.append(request)
        return ApprovalResult.edit({"path": "/tmp/scratch"})

    llm = ScriptedLLM([call("delete_everything", path="/"), answer("done")])
    with Agent(llm, tools=demo_tools, approve=safer) as agent:
        agent.run("clean up")
    assert seen[0].arguments == {"path": "/"} and seen[0].risk == "high"
    assert ledger.read_text() == "delete /tmp/scratch\n"
    # the model is told what ran: otherwise it describes the call it wrote, not the user's
    told = llm.calls[1].messages[-1].content
    assert (
        'The user changed this call\'s arguments before it ran; what they changed: {"path": "/tmp/scratch"}'
        in told
    )


def test_an_edit_is_told_by_the_values_changed_each_cut_short(demo_tools: list, ledger: Path) -> None:
    long_path = "/tmp/" + "p" * 1000

    def longer(request: ApprovalRequest) -> ApprovalResult:
        return ApprovalResult.edit({"path": long_path})

    llm = ScriptedLLM([call("delete_everything", path="/"), answer("done")])
    with Agent(llm, tools=demo_tools, approve=longer) as agent:
        agent.run("clean up")
    told = llm.calls[1].messages[-1].content
    note = told.split("what they changed: ", 1)[1].splitlines()[0]
    assert (
        note == '{"path": "/tmp/' + "p" * 195 + '... (805 more characters)"}'
    )  # (the result shows the rest)


def test_an_approved_call_says_nothing_of_edits(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM([call("delete_everything", path="/tmp/x"), answer("done")])
    with Agent(llm, tools=demo_tools, approve=approve_all) as agent:
        agent.run("clean up")
    assert "changed this call" not in llm.calls[1].messages[-1].content


def test_nobody_is_asked_to_approve_a_call_of_a_cancelled_run(demo_tools: list, ledger: Path) -> None:
    """A reader that stops a stream after the model's turn (which holds a risky call) must not be
    asked about that call: the run was stopped before the call's approval."""
    asked: list[ApprovalRequest] = []

    def approver(request: ApprovalRequest) -> ApprovalResult:
        asked.append(request)
        return ApprovalResult.approve(request.arguments)

    llm = ScriptedLLM([call("delete_everything", path="/"), answer("done")])
    with Agent(llm, tools=demo_tools, approve=approver) as agent:

        def stop_after_the_turn(event: Any) -> None:
            if getattr(event, "type", "") == "model_turn":
                agent.cancel()

        with pytest.raises(RunCancelledError):
            agent.run("clean up", callbacks=[stop_after_the_turn])
    assert asked == [] and not ledger.exists()


def test_a_chat_message_after_a_cancelled_one_does_not_make_its_calls(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM([call("delete_everything", path="/"), answer("Hello.")])
    with Agent(llm, tools=demo_tools, approve=approve_all) as agent:
        session = agent.chat()

        def stop_after_the_turn(event: Any) -> None:
            if getattr(event, "type", "") == "model_turn":
                agent.cancel()

        with pytest.raises(RunCancelledError):
            session.send("Clean up.", callbacks=[stop_after_the_turn])
        assert session.send("Hi!").answer == "Hello."
    assert not ledger.exists()  # the cancelled message's delete was not made for the next one


def test_low_risk_tools_do_not_ask(demo_tools: list) -> None:
    def never(request: ApprovalRequest) -> ApprovalResult:
        raise AssertionError("asked for a low-risk tool")

    llm = ScriptedLLM([call("add", a=1, b=2), answer("3")])
    with Agent(llm, tools=demo_tools, approve=never) as agent:
        assert agent.run("1+2").answer == "3"


def test_given_plan_forces_each_steps_tool(demo_tools: list, ledger: Path) -> None:
    # a step that names a tool is one call of it (a short result is the step's result as it is: no
    # note turn); then the model answers
    llm = ScriptedLLM([call("add", a=1, b=2), call("delete_everything", path="x"), answer("all done")])
    plan = [
        PlanStep(do="add", tool="add"),
        PlanStep(do="delete", tool="delete_everything", args={"path": "x"}),
    ]
    with Agent(llm, tools=demo_tools, approve=approve_all) as agent:
        result = agent.run("add then delete", plan=plan)
    assert result.answer == "all done" and [p.tool for p in result.plan] == ["add", "delete_everything"]
    first = llm.calls[0].schema
    assert first["properties"]["action"]["const"] == "add"  # only the step's tool was admitted
    assert "Step 1 of 2" in llm.calls[0].messages[-1].content
    assert ledger.read_text() == "add 1 2\ndelete x\n"
    pinned = llm.calls[1].schema["properties"]["arguments"]["properties"]["path"]
    assert pinned == {"const": "x"}  # the step's fixed argument is pinned in the grammar
    assert len(llm.calls) == 3 and "All steps are done" in llm.calls[2].messages[-1].content
    plan_event = next(e for e in read_trace(result.trace_path) if e.type == "plan")
    assert plan_event.tools == ["add", "delete_everything"]


@tool
def survey(site: str) -> str:
    """Read a survey's full log: a long result holding a few values among many lines.

    Args:
        site: the survey site
    """
    lines = [f"{site} {hour:02d}:00 water level normal, wind light, nothing to report" for hour in range(8)]
    return "\n".join([*lines, f"{site} total count: 7 herons"])


def test_a_tool_steps_note_follows_its_successful_call_and_only_the_note_is_offered(
    demo_tools: list, ledger: Path
) -> None:
    # the result is long (eight lines of log around one count): the model writes down what it found
    llm = ScriptedLLM([call("survey", site="weir"), note("7 herons at the weir"), answer("7")])
    states: list[RunState] = []
    with _agent(llm, [*demo_tools, survey]) as agent:
        plan = [{"do": "read", "tool": "survey"}, "answer"]
        result = agent.run("how many herons at the weir?", plan=plan, on_step=states.append)
    assert result.answer == "7" and result.status == "succeeded"
    # the note is kept as a copy of the result, which citations are not traced from (provenance)
    assert [json.loads(n)["answer"] for n in states[-1].step_notes] == ["7 herons at the weir"]
    note_turn = llm.calls[1]
    assert note_turn.messages[-2].role == "tool"  # right after the call's result
    assert note_turn.messages[-1].role == "user" and "write down what this step found" in (
        note_turn.messages[-1].content
    )
    assert note_turn.schema["properties"]["action"]["const"] == "step_done"  # no tool, no answer
    # the last step's turn reads the note as the model's own earlier turn
    assert any("7 herons at the weir" in m.content for m in llm.calls[2].messages if m.role == "assistant")


@pytest.mark.parametrize("ending", ["length limit", "token limit"])
def test_a_note_that_runs_to_its_limit_is_taken_out_and_the_raw_result_stands(
    demo_tools: list, ledger: Path, ending: str
) -> None:
    """A note that long restates the result or loops: later turns see the tool's result, not the note
    nor the request for it, and the trace says so."""
    looping = ("7 herons at the weir, 5 herons at the weir, " * 10)[:195]  # ends at the 200-char limit
    cut = OutputTruncatedError("structured output was cut off after max_tokens=1024", text=looping)
    noted = [note(looping)] if ending == "length limit" else [cut, cut]
    llm = ScriptedLLM([call("survey", site="weir"), *noted, answer("7")])
    states: list[RunState] = []
    with _agent(llm, [*demo_tools, survey], answer_chars=200) as agent:
        plan = [{"do": "read", "tool": "survey"}, "answer"]
        result = agent.run("how many herons at the weir?", plan=plan, on_step=states.append)
    assert result.answer == "7" and result.status == "succeeded"
    last = llm.calls[-1].messages
    assert not any("5 herons" in m.content or "write down what this step found" in m.content for m in last)
    assert last[-2].role == "tool" and "total count: 7 herons" in last[-2].content  # then the last step's
    assert states[-1].step_notes == []
    set_aside = [e for e in read_trace(result.trace_path) if e.type == "note_set_aside"]
    assert [e.chars for e in set_aside] == ([195] if ending == "length limit" else [])


def test_without_step_notes_a_tool_step_ends_with_its_call(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM([call("add", a=2, b=5), answer("7")])
    with _agent(llm, demo_tools, step_notes=False) as agent:
        result = agent.run("add 2 and 5", plan=[{"do": "add", "tool": "add"}, "answer"])
    assert result.answer == "7" and len(llm.calls) == 2


def test_model_plan_then_replan_after_a_failed_step(demo_tools: list) -> None:
    llm = ScriptedLLM(
        [
            {"steps": [{"do": "add numbers", "tool": "add"}, {"do": "answer", "tool": None}]},
            call("add", a="x", b=1),  # invalid: a tool error inside step 1
            call("add", a="y", b=1),  # the step's second and last try fails too
            {"steps": [{"do": "try again and answer", "tool": None}]},
            answer("gave up politely"),
        ]
    )
    with _agent(llm, demo_tools, planning="always", step_tries=2) as agent:
        result = agent.run("add x and 1")
    plans = [e for e in read_trace(result.trace_path) if e.type == "plan"]
    assert [p.revision for p in plans] == [0, 1]
    assert result.plan[-1].do == "try again and answer"
    assert result.answer == "gave up politely"
    calls = [e for e in read_trace(result.trace_path) if e.type == "tool_call"]
    assert [c.arguments["a"] for c in calls] == ["x", "y"]


def test_a_failed_tool_step_is_tried_again_until_a_call_succeeds(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM(
        [
            call("add", a="x", b=1),  # a tool error: the step is not done (and gets no note)
            call("add", a=2, b=1),  # the model read the error and fixed the call
            answer("3"),
        ]
    )
    with _agent(llm, demo_tools, planning="always") as agent:
        result = agent.run("add 2 and 1", plan=[{"do": "add", "tool": "add"}, "answer"])
    assert ledger.read_text() == "add 2 1\n"
    assert result.answer == "3" and result.status == "succeeded"
    assert [e.type for e in read_trace(result.trace_path)].count("plan") == 1  # no re-plan: it succeeded
    # the retry's turn saw the first call's error, but not the failed call (a model copies it)
    retry_note = llm.calls[1].messages[-1]
    assert retry_note.role == "user" and "[add failed, try 1 of 3]" in retry_note.content
    assert "input should be a valid integer" in retry_note.content.lower()
    assert not any('"x"' in m.content for m in llm.calls[1].messages if m.role == "assistant")
    # the trace keeps both calls
    calls = [e.arguments for e in read_trace(result.trace_path) if e.type == "tool_call"]
    assert calls == [{"a": "x", "b": 1}, {"a": 2, "b": 1}]


def test_a_tool_step_stops_trying_after_step_tries(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM([call("add", a="x", b=1), call("add", a="y", b=1), answer("could not add")])
    with _agent(llm, demo_tools, step_tries=2) as agent:
        result = agent.run("add", plan=[{"do": "add", "tool": "add"}, "answer"])
    assert result.answer == "could not add"
    assert not ledger.exists() or ledger.read_text() == ""


def test_a_step_whose_tries_all_failed_ends_the_plan_before_the_steps_that_use_it(
    demo_tools: list, ledger: Path
) -> None:
    """A report step after a computation that never succeeded would write a number nobody computed: the
    plan stops at the failed step and the model answers, told what was not done."""
    failing = [call("add", a="x", b=1), call("add", a="y", b=1)]
    llm = ScriptedLLM([*failing, answer("I could not add the numbers, so nothing was written.")])
    plan = [
        {"do": "add the numbers", "tool": "add"},
        {"do": "write it", "tool": "delete_everything"},
        "answer",
    ]
    with _agent(llm, demo_tools, step_tries=2) as agent:
        result = agent.run("add, then record it", plan=plan)
    assert result.answer.startswith("I could not add") and result.answered
    assert not ledger.exists()  # the step after the failed one never ran
    told = llm.calls[2].messages[-1].content
    assert "Step 1 of 3 could not be done: 2 calls of add failed" in told and "will not be run" in told
    assert llm.calls[2].schema["properties"]["action"]["const"] == "final_answer"  # no tool can follow
    assert [e.tool for e in read_trace(result.trace_path) if e.type == "tool_call"] == ["add", "add"]


def test_plan_naming_unknown_tool_or_argument_is_a_usage_error(demo_tools: list) -> None:
    with _agent(ScriptedLLM(), demo_tools) as agent:
        with pytest.raises(UsageError, match="does not have"):
            agent.run("x", plan=[{"do": "search", "tool": "web_search"}])
        with pytest.raises(UsageError, match="does not take"):
            agent.run("x", plan=[{"do": "add", "tool": "add", "args": {"c": 1}}])


def test_free_plan_step_ends_with_step_done_and_a_repeat_only_ends_the_step(demo_tools: list) -> None:
    llm = ScriptedLLM(
        [
            {"action": "step_done", "answer": "found 3", "citations": []},
            call("add", a=1, b=1),
            call("add", a=1, b=1),
            call("add", a=1, b=1),  # third repeat ends step 2
            {"action": "step_done", "answer": "forced end of step", "citations": []},
            answer("final"),
        ]
    )
    with _agent(llm, demo_tools) as agent:
        result = agent.run("x", plan=["look", "add", "answer"])
    assert result.answer == "final" and result.stopped_by == "answer"
    assert "found 3" in llm.calls[1].messages[-2].content


def test_tool_choice_required_and_named(demo_tools: list) -> None:
    llm = ScriptedLLM([call("add", a=1, b=1), answer("forced")])
    with _agent(llm, demo_tools, tool_choice="add", budget=Budget(max_steps=1)) as agent:
        result = agent.run("x")
    assert llm.calls[0].schema["properties"]["action"]["const"] == "add"
    assert result.stopped_by == "max_steps"
    with pytest.raises(UsageError, match="tool_choice"):
        _agent(ScriptedLLM(), demo_tools, tool_choice="nope")


def test_checkpointed_state_resumes_without_repeating_tool_calls(demo_tools: list, ledger: Path) -> None:
    checkpoints: list[str] = []
    llm = ScriptedLLM([call("add", a=1, b=2), RuntimeError("killed mid-run")])
    with _agent(llm, demo_tools) as agent, pytest.raises(RuntimeError):
        agent.run("1+2 then answer", on_step=lambda s: checkpoints.append(s.model_dump_json()))
    state = RunState.model_validate_json(checkpoints[-1])
    assert state.step == 1 and ledger.read_text() == "add 1 2\n"
    llm2 = ScriptedLLM([answer("3")])
    with _agent(llm2, demo_tools) as agent:
        result = agent.continue_run(state)
    assert result.answer == "3"
    assert ledger.read_text() == "add 1 2\n"  # not run again
    assert llm2.calls[0].messages[-1].role == "tool"  # resumed with the recorded result
    events = read_trace(result.trace_path)
    assert [e.type for e in events].count("run_started") == 1  # one run, one trace


def test_a_plan_run_killed_before_a_steps_note_resumes_with_the_note(demo_tools: list, ledger: Path) -> None:
    checkpoints: list[str] = []
    calls: list[str] = []

    @tool
    def long_add(a: int, b: int) -> str:
        """Add two integers and explain the sum at length.

        Args:
            a: first number
            b: second number
        """
        calls.append(f"add {a} {b}")
        return f"{a} + {b} = {a + b}. " + "The sum of two integers is an integer. " * 10

    llm = ScriptedLLM([call("long_add", a=1, b=2), RuntimeError("killed before the note")])
    plan = [{"do": "add", "tool": "long_add"}, "answer"]
    with _agent(llm, [long_add]) as agent, pytest.raises(RuntimeError):
        agent.run("1+2", plan=plan, on_step=lambda s: checkpoints.append(s.model_dump_json()))
    state = RunState.model_validate_json(checkpoints[-1])
    llm2 = ScriptedLLM([note("1 + 2 = 3"), answer("3")])
    with _agent(llm2, [long_add]) as agent:
        result = agent.continue_run(state)
    assert result.answer == "3" and calls == ["add 1 2"]  # the call is not made again
    assert llm2.calls[0].schema["properties"]["action"]["const"] == "step_done"


def test_stream_and_arun(demo_tools: list) -> None:
    llm = ScriptedLLM([call("add", a=1, b=2), answer("3"), answer("async")])
    with _agent(llm, demo_tools) as agent:
        items = list(agent.stream("1+2"))
        assert items[-1].answer == "3"
        assert any(getattr(e, "type", "") == "tool_result" for e in items)
        assert isinstance(items[-3], AnswerEvent) and items[-2].type == "run_finished"
        assert asyncio.run(agent.arun("again")).answer == "async"


def _held_agent(ledger: Path) -> tuple[Agent, threading.Event]:
    """An agent whose ``add`` tool waits until the agent is cancelled: the run cannot get ahead of a
    reader that stops at the first call."""
    released = threading.Event()

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: first number
            b: second number
        """
        released.wait(10)
        with ledger.open("a") as fh:
            fh.write(f"add {a} {b}\n")
        return a + b

    llm = ScriptedLLM([call("add", a=1, b=2), call("add", a=3, b=4), answer("10")])
    agent = _agent(llm, [add])
    cancel = agent.cancel
    agent.cancel = lambda: (cancel(), released.set())  # type: ignore[method-assign]
    return agent, released


@pytest.mark.parametrize("stop_at", ["run_started", "tool_call"])
def test_a_stream_stopped_early_cancels_its_run(ledger: Path, stop_at: str) -> None:
    agent, released = _held_agent(ledger)
    with agent:
        stream = agent.stream("1+2, then 3+4")
        for event in stream:
            if getattr(event, "type", "") == stop_at:
                break  # the reader has seen enough
        stream.close()
        assert released.is_set()  # the stream cancelled the run
        assert not [t for t in threading.enumerate() if t.name == "heron-agent-run"]  # and waited for it
        (trace,) = agent.settings.data_dir.glob("traces/*.jsonl")
        last = read_trace(trace)[-1]
    assert last.type == "run_finished" and last.status == "cancelled"
    made = ledger.read_text() if ledger.exists() else ""  # (stopped at run_started: no call at all)
    assert "add 3 4" not in made  # no call after the cancel


def test_a_stream_kept_but_no_longer_read_makes_no_call_and_closing_it_cancels_the_run(ledger: Path) -> None:
    """A newcomer broke out of ``for event in stream`` after the first event, the stream kept in a
    variable: the abandoned run went on to call a tool in the background. A tool call now waits
    until the reader has taken its event."""

    @tool(risk=Risk.HIGH)
    def archive(name: str) -> str:
        """Archive a file.

        Args:
            name: the file
        """
        with ledger.open("a") as fh:
            fh.write(f"archive {name}\n")
        return "archived"

    llm = ScriptedLLM([call("archive", name="a.csv"), answer("done")])
    with Agent(llm, tools=[archive], approve=approve_all) as agent:
        stream = agent.stream("archive a.csv")
        assert next(stream).type == "run_started"  # then the reader stops reading, the stream kept
        (trace,) = agent.settings.data_dir.glob("traces/*.jsonl")
        deadline = time.monotonic() + 30
        while not any(e.type == "tool_call" for e in read_trace(trace)):  # the call's event is out
            assert time.monotonic() < deadline, "the run never reached its tool call"
            time.sleep(0.05)
        time.sleep(1.0)  # time enough for the call to be made, were it made
        assert not ledger.exists()
        stream.close()
        assert read_trace(trace)[-1].status == "cancelled"
    assert not ledger.exists()


def test_an_async_stream_stopped_early_cancels_its_run(ledger: Path) -> None:
    agent, released = _held_agent(ledger)

    async def first_call() -> None:
        stream = agent.astream("1+2, then 3+4")
        async for event in stream:
            if getattr(event, "type", "") == "tool_call":
                break
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator

    with agent:
        asyncio.run(first_call())
    # the first call, taken by the reader just before it left, may have started (then it finishes)
    assert released.is_set() and (ledger.read_text() if ledger.exists() else "") in ("", "add 1 2\n")


def test_a_timeout_on_an_async_stream_cancels_its_run(ledger: Path) -> None:
    agent, released = _held_agent(ledger)

    async def read_all() -> None:
        async for _event in agent.astream("1+2, then 3+4"):
            pass  # the first call is held: the stream waits until the timeout

    with agent:
        with pytest.raises(TimeoutError):
            asyncio.run(asyncio.wait_for(read_all(), timeout=0.5))
        (trace,) = agent.settings.data_dir.glob("traces/*.jsonl")
        last = read_trace(trace)[-1]
    assert released.is_set() and last.status == "cancelled"
    assert ledger.read_text() == "add 1 2\n"


def test_chat_session_keeps_history(demo_tools: list) -> None:
    llm = ScriptedLLM([answer("hello Ada"), answer("your name is Ada")])
    with _agent(llm, demo_tools) as agent:
        session = agent.chat()
        first = session.send("I am Ada")
        second = session.send("What is my name?")
    assert second.answer == "your name is Ada"
    # each message's usage is its own (its steps and budget are too), not the conversation's so far
    with _agent(ScriptedLLM([answer("your name is Ada")]), demo_tools) as alone:
        asked_alone = alone.run("What is my name?")
    assert second.usage.completion_tokens == asked_alone.usage.completion_tokens > 0
    assert first.usage.completion_tokens > 0
    texts = [m.content for m in llm.calls[1].messages]
    assert "I am Ada" in texts and "What is my name?" in texts
    assert json.loads(texts[-2])["answer"] == "hello Ada"


class OnlyTool(TurnPolicy):
    """A policy that lets the first turn call only ``name``, nothing else."""

    def __init__(self, name: str) -> None:
        self.name = name

    def allowed(self, turn: Turn) -> Allowed | None:
        return Allowed(answer=False, tools=frozenset({self.name})) if turn.first else None


class NoAnswer(TurnPolicy):
    def allowed(self, turn: Turn) -> Allowed | None:
        return TOOLS_ONLY if turn.first else None


class Dedupe(TurnPolicy):
    """Drops repeated strings from list arguments before the call runs."""

    def review(self, call: ToolCallAction, turn: Turn) -> ToolCallAction | None:
        arguments = {
            k: list(dict.fromkeys(v)) if isinstance(v, list) else v for k, v in call.arguments.items()
        }
        return call.model_copy(update={"arguments": arguments})


class SetAside(TurnPolicy):
    def __init__(self) -> None:
        self.turns: list[Turn] = []

    def review(self, call: ToolCallAction, turn: Turn) -> ToolCallAction | None:
        self.turns.append(turn)
        return None


def _offered(call: Any) -> list[str]:
    schema = call.schema
    alternatives = schema.get("anyOf", [schema])
    # (a list of several calls is one more alternative: the same tools again)
    return [alt["properties"]["action"]["const"] for alt in alternatives if alt.get("type") == "object"]


def test_without_policies_the_first_turn_offers_every_tool_and_the_answer(demo_tools: list) -> None:
    llm = ScriptedLLM([answer("hi")])
    with _agent(llm, demo_tools) as agent:
        agent.run("hello")
    assert _offered(llm.calls[0]) == [t.name for t in demo_tools] + ["final_answer"]


def test_policies_restrict_only_the_first_turn_and_their_restrictions_intersect(demo_tools: list) -> None:
    llm = ScriptedLLM([call("add", a=2, b=40), answer("42")])
    with Agent(llm, tools=demo_tools, policies=[OnlyTool("add"), NoAnswer()]) as agent:
        result = agent.run("What is 2 + 40?")
    assert result.answer == "42"
    assert _offered(llm.calls[0]) == ["add"]  # one tool, no answer: both policies held
    assert _offered(llm.calls[1]) == [t.name for t in demo_tools] + ["final_answer"]  # later: free


def test_a_restriction_leaves_turns_the_model_does_not_choose_alone(demo_tools: list) -> None:
    llm = ScriptedLLM([call("delete_everything", path="old")])
    config = AgentConfig(tool_choice="delete_everything")
    with Agent(llm, tools=demo_tools, config=config, policies=[OnlyTool("add")]) as agent:
        agent.decide("Delete the old folder")
    assert _offered(llm.calls[0]) == ["delete_everything"]  # tool_choice decided; the policy was not asked


def test_a_policy_chooses_the_argument_schema_the_grammar_offers(demo_tools: list) -> None:
    class NoB(TurnPolicy):
        def arguments_schema(self, tool: Tool, schema: dict[str, Any], request: str) -> dict[str, Any]:
            schema["properties"].pop("b", None)
            schema["required"] = [r for r in schema.get("required", []) if r != "b"]
            return schema

    llm = ScriptedLLM([answer("hi")])
    with Agent(llm, tools=demo_tools, policies=[NoB()]) as agent:
        agent.run("hello")
    add = next(
        alt
        for alt in llm.calls[0].schema["anyOf"]
        if alt.get("properties", {}).get("action") == {"const": "add"}
    )
    assert set(add["properties"]["arguments"]["properties"]) == {"a"}


def test_a_reviewed_call_runs_as_changed_and_the_trace_keeps_the_models_output() -> None:
    received: list[list[str]] = []

    @tool
    def book(services: list[str]) -> str:
        """Book extra services.

        Args:
            services: the services to add
        """
        received.append(services)
        return "booked"

    looped = ["breakfast", "parking", "breakfast", "breakfast"]
    llm = ScriptedLLM([call("book", services=looped), answer("done")])
    with Agent(llm, tools=[book], policies=[Dedupe()]) as agent:
        result = agent.run("Book breakfast and parking")
    assert received == [["breakfast", "parking"]]
    turn = next(e for e in read_trace(result.trace_path) if e.type == "model_turn")
    assert json.loads(turn.output)["arguments"]["services"] == looped  # the model's own output


def test_a_call_set_aside_by_review_is_taken_again_without_its_tool(demo_tools: list, ledger: Path) -> None:
    aside = SetAside()
    llm = ScriptedLLM([call("add", a=1, b=2), answer("About 95 kcal.")])
    with Agent(llm, tools=demo_tools, policies=[aside]) as agent:
        result = agent.run("How many calories does an apple have?")
    assert result.answer == "About 95 kcal." and not ledger.exists()
    assert _offered(llm.calls[1]) == ["delete_everything", "final_answer"]
    assert [m.role for m in llm.calls[1].messages] == ["system", "user"]  # the call is gone
    (turn,) = aside.turns
    assert turn.first and turn.offered.answer and turn.request.startswith("How many")


def test_a_set_aside_is_ignored_where_the_answer_was_not_offered(demo_tools: list) -> None:
    llm = ScriptedLLM([call("add", a=1, b=2), answer("3")])
    config = AgentConfig(tool_choice="required", budget=Budget(max_steps=1))
    with Agent(llm, tools=demo_tools, config=config, policies=[SetAside()]) as agent:
        result = agent.run("1 + 2?")
    tool_calls = [e for e in read_trace(result.trace_path) if e.type == "tool_call"]
    assert [e.tool for e in tool_calls] == ["add"]  # the call ran: there was no answer to fall back on


def test_a_sub_agents_tokens_count_against_the_callers_budget_and_its_approvals_go_to_the_callers(
    demo_tools: list,
) -> None:
    asked: list[str] = []

    def caller_approver(request: ApprovalRequest) -> ApprovalResult:
        asked.append(request.tool)
        return ApprovalResult.deny("not now")

    long_answer = " ".join(["word"] * 60)
    sub_llm = ScriptedLLM([call("delete_everything"), answer(long_answer)])
    llm = ScriptedLLM([call("helper", task="clean up"), answer("done")])
    with (
        Agent(sub_llm, tools=demo_tools) as sub,  # its own approver would deny without asking anyone
        Agent(
            llm,
            tools=[sub.as_tool("helper", "Cleans up.")],
            approve=caller_approver,
            config=AgentConfig(budget=Budget(max_tokens=64)),
        ) as agent,
    ):
        result = agent.run("Clean up, please.")
    assert asked == ["delete_everything"]  # the sub-agent's risky call went to the caller's approver
    assert result.denied_calls == 1  # and the call it did not approve is the caller's to report
    assert result.stopped_by == "max_tokens"  # the sub-agent's 60-word answer spent the caller's budget
    # and the run's usage says so: a run stopped at 64 tokens does not show fewer
    assert result.usage.completion_tokens >= 64


def test_a_sub_agent_that_fails_after_a_call_was_not_approved_still_reports_it_to_the_caller(
    demo_tools: list,
) -> None:
    sub_llm = ScriptedLLM([call("delete_everything"), RuntimeError("the sub-agent's model crashed")])
    llm = ScriptedLLM([call("helper", task="clean up"), answer("it failed")])
    with (
        Agent(sub_llm, tools=demo_tools) as sub,
        Agent(llm, tools=[sub.as_tool("helper", "Cleans up.")]) as agent,  # the default approver denies
    ):
        result = agent.run("Clean up, please.")
    assert result.failed_calls == 1 and result.denied_calls == 1, (result.failed_calls, result.denied_calls)


def test_the_caller_is_told_when_a_sub_agents_answer_was_cut_at_its_length_limit() -> None:
    sub_llm = ScriptedLLM([answer("u" * 45)])  # the sub-agent's answer_chars is 50: it ends at the limit
    llm = ScriptedLLM([call("helper", task="describe it"), answer("done")])
    with (
        Agent(sub_llm, config=AgentConfig(answer_chars=50)) as sub,
        Agent(llm, tools=[sub.as_tool("helper", "Describes things.")]) as agent,
    ):
        agent.run("Describe it, please.")
    result_message = llm.calls[1].messages[-1].content
    assert "u" * 45 + " [cut off at the answer's length limit]" in result_message


def test_cancelling_the_caller_stops_its_sub_agents_run() -> None:
    """A cancel of the caller (Ctrl-C, a stream closed, a served client gone) while its sub-agent
    decodes stops the sub-agent at its next token, and then the caller: neither answers."""
    holder: dict[str, Agent] = {}

    def cancelled_meanwhile(recorded: Any) -> dict:
        holder["caller"].cancel()  # the caller's user gives up while the sub-agent writes
        return answer("the sub-agent's late answer")

    sub_llm = ScriptedLLM([cancelled_meanwhile])
    llm = ScriptedLLM([call("helper", task="look it up"), answer("the caller's answer")])
    with (
        Agent(sub_llm) as sub,
        Agent(llm, tools=[sub.as_tool("helper", "Looks things up.")]) as agent,
    ):
        holder["caller"] = agent
        with pytest.raises(RunCancelledError):
            agent.run("Look it up, please.")
        (trace,) = [p for p in agent.settings.data_dir.glob("traces/*.jsonl") if "." not in p.stem]
        events = read_trace(trace)  # the caller's trace, which holds the sub-run's events too
    finished = {e.run_id: e.status for e in events if e.type == "run_finished"}
    assert len(finished) == 2 and set(finished.values()) == {"cancelled"}  # the sub-run and the caller
    assert not [e for e in events if e.type == "answer"]


def test_a_cancel_while_python_runs_stops_the_cell_and_makes_no_further_call(tmp_path: Path) -> None:
    """Ctrl-C in heron chat, a closed stream or a served client gone while a cell runs: the cell stops
    (it would otherwise hold the run until the sandbox's wall-clock limit) and nothing else runs."""
    from heron.tools.builtin import tools_by_name

    sleeper = "open('started', 'w').close()\nimport time\ntime.sleep(600)\nprint('slept')"
    llm = ScriptedLLM([call("python", code=sleeper), call("python", code="print(2)"), answer("done")])
    workspace = tmp_path / "ws"
    with Agent(llm, tools=[tools_by_name()["python"]], workspace=workspace, approve=approve_all) as agent:

        def cancel_once_the_cell_runs() -> None:
            while not (workspace / "started").exists():
                threading.Event().wait(0.05)
            agent.cancel()

        canceller = threading.Thread(target=cancel_once_the_cell_runs, daemon=True)
        canceller.start()
        with pytest.raises(RunCancelledError):
            agent.run("Sleep, please.")
        canceller.join()
        (trace,) = agent.settings.data_dir.glob("traces/*.jsonl")
        events = read_trace(trace)
    # the stopped cell has no result of its own (it stays pending: a resume makes the call again),
    # and the second call was never made
    assert [e.type for e in events if e.type in ("tool_call", "tool_result")] == ["tool_call"]
    assert events[-1].type == "run_finished" and events[-1].status == "cancelled"
    assert len(llm.calls) == 1  # no model turn after the cancel


def _running(agent: Agent, goal: str) -> tuple[threading.Thread, list[BaseException]]:
    """``agent.run(goal)`` started in a thread of its own, and the list that gets what it raises."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            agent.run(goal)
        except BaseException as exc:
            raised.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    return runner, raised


def test_cancelling_the_caller_stops_a_cell_its_sub_agent_runs(tmp_path: Path) -> None:
    """The caller's cancel reaches a sub-agent's running cell: without it the sub-run would wait for
    the cell's wall-clock limit (15 minutes here) before it saw the cancel."""
    from heron.config import load_settings
    from heron.tools.builtin import tools_by_name

    sleeper = "open('started', 'w').close()\nimport time\ntime.sleep(600)\nprint('slept')"
    sub_llm = ScriptedLLM([call("python", code=sleeper), answer("the sub-agent's late answer")])
    llm = ScriptedLLM([call("helper", task="sleep"), answer("the caller's answer")])
    workspace = tmp_path / "sub-ws"
    python = tools_by_name()["python"]
    settings = load_settings()
    patient = settings.model_copy(
        update={"sandbox": settings.sandbox.model_copy(update={"wall_seconds": 900})}
    )
    with (
        Agent(sub_llm, tools=[python], workspace=workspace, approve=approve_all, settings=patient) as sub,
        Agent(llm, tools=[sub.as_tool("helper", "Sleeps.")], approve=approve_all) as agent,
    ):

        def cancel_once_the_cell_runs() -> None:
            while not (workspace / "started").exists():
                threading.Event().wait(0.05)
            agent.cancel()  # the caller's user gives up; the cell runs in the sub-agent's sandbox

        runner, raised = _running(agent, "Sleep, please.")
        cancel_once_the_cell_runs()
        runner.join(timeout=120)  # the stopped cell ends the run in seconds; the limit is 900 s
        stuck = runner.is_alive()
        if stuck:
            sub.cancel()  # (stop the cell, so that the failing test ends)
            runner.join()
        assert not stuck, "the sub-agent's cell kept running after the caller's cancel"
        assert [type(e) for e in raised] == [RunCancelledError]
        (trace,) = [p for p in agent.settings.data_dir.glob("traces/*.jsonl") if "." not in p.stem]
        events = read_trace(trace)  # the caller's trace, which holds the sub-run's events too
    sub_calls = [e for e in events if e.type in ("tool_call", "tool_result") and e.tool == "python"]
    assert [e.type for e in sub_calls] == ["tool_call"]  # stopped: no result of the 600 s cell
    finished = {e.run_id: e.status for e in events if e.type == "run_finished"}
    assert len(finished) == 2 and set(finished.values()) == {"cancelled"}
    assert len(sub_llm.calls) == 1 and len(llm.calls) == 1  # no model turn after the cancel
    # the stopped sub-run's tokens were spent all the same: the caller's usage holds them
    generated = {e.run_id: e.usage["completion_tokens"] for e in events if e.type == "run_finished"}
    sub_run = next(r for r in generated if r != trace.stem)
    own = sum(e.completion_tokens for e in events if e.type == "model_turn" and e.run_id == trace.stem)
    assert generated[sub_run] > 0 and generated[trace.stem] == own + generated[sub_run]


def test_a_cancel_just_before_a_cell_starts_keeps_it_from_running(tmp_path: Path) -> None:
    """A cancel after the loop's last check but before the cell reached the sandbox found no cell to
    stop, and the cell then ran to its wall-clock limit (15 minutes here). The sandbox reads the
    run's cancel as the cell becomes stoppable: the cell does not start."""
    from heron.config import load_settings
    from heron.tools.builtin import tools_by_name

    sleeper = "open('ran', 'w').close()\nimport time\ntime.sleep(600)"
    llm = ScriptedLLM([call("python", code=sleeper), answer("done")])
    workspace = tmp_path / "ws"
    settings = load_settings()
    patient = settings.model_copy(
        update={"sandbox": settings.sandbox.model_copy(update={"wall_seconds": 900})}
    )
    with Agent(
        llm, tools=[tools_by_name()["python"]], workspace=workspace, approve=approve_all, settings=patient
    ) as agent:
        sandbox = agent.context.sandbox
        starting = sandbox.start

        def cancelled_while_starting() -> None:  # (inside run_cell, before the cell is sent)
            starting()
            agent.cancel()

        sandbox.start = cancelled_while_starting  # type: ignore[method-assign]
        runner, raised = _running(agent, "Sleep, please.")
        runner.join(timeout=60)
        stuck = runner.is_alive()
        if stuck:
            sandbox.interrupt("the test gave up")
            runner.join()
    assert not stuck, "the cell ran although its run was cancelled before it started"
    assert [type(e) for e in raised] == [RunCancelledError]
    assert not (workspace / "ran").exists()


def test_a_cancel_while_no_cell_runs_keeps_the_sandboxs_variables(tmp_path: Path) -> None:
    """Ctrl-C while the model writes must not cost the cells' state: only a running cell is stopped."""
    from heron.tools.builtin import tools_by_name

    llm = ScriptedLLM(
        [call("python", code="x = 41"), answer("set"), call("python", code="print(x + 1)"), answer("42")]
    )
    with Agent(
        llm, tools=[tools_by_name()["python"]], workspace=tmp_path / "ws", approve=approve_all
    ) as agent:
        session = agent.chat()
        session.send("Set x.")
        agent.cancel()  # nothing runs: a no-op for the sandbox (the next message clears the flag)
        session.send("Print x + 1.")
    assert "42" in llm.calls[3].messages[-1].content  # the cell's result the model saw


def test_a_misspelt_setting_is_refused_naming_it() -> None:
    from pydantic import ValidationError

    from heron.agents.budget import Budget
    from heron.llm import GenerationOptions, RepetitionControl

    for make, wrong in (
        (AgentConfig, "require_citation"),
        (Budget, "max_step"),
        (GenerationOptions, "max_token"),
        (RepetitionControl, "free_key"),
    ):
        with pytest.raises(ValidationError, match=rf"{wrong}\n  Extra inputs are not permitted"):
            make(**{wrong: 1})


@tool
def run_code(code: str) -> ToolResult:
    """Run a line of code.

    Args:
        code: the code
    """
    failed = "undefined" in code
    return ToolResult(text="NameError: name 'undefined' is not defined" if failed else "7.7", is_error=failed)


def test_the_turn_after_a_failed_call_offers_tools_only_up_to_tries_after_error() -> None:
    fixed = [call("run_code", code="undefined * 3"), call("run_code", code="0.4 * 3 + 6.5"), answer("7.7")]
    llm = ScriptedLLM(fixed)
    with Agent(llm, tools=[run_code]) as agent:
        result = agent.run("What do 3 apples at 0.40 and 6.50 of bread cost?")
    assert _offered(llm.calls[1]) == ["run_code"]  # after the error: fix the call, no answer yet
    assert "final_answer" in _offered(llm.calls[2]) and result.answer == "7.7"
    # more failed calls than tries_after_error: the answer is offered again (it may say what failed)
    llm = ScriptedLLM(
        [call("run_code", code="undefined"), call("run_code", code="undefined 2"), answer("No.")]
    )
    with Agent(llm, tools=[run_code], config=AgentConfig(tries_after_error=1)) as agent:
        result = agent.run("Total?")
    assert _offered(llm.calls[1]) == ["run_code"] and "final_answer" in _offered(llm.calls[2])
    assert result.answer == "No."
    # 0: off
    llm = ScriptedLLM([call("run_code", code="undefined"), answer("It failed.")])
    with Agent(llm, tools=[run_code], config=AgentConfig(tries_after_error=0)) as agent:
        agent.run("Total?")
    assert "final_answer" in _offered(llm.calls[1])


def test_the_turn_after_a_failed_call_offers_no_high_risk_tool_the_model_did_not_call() -> None:
    """Kept from answering after a look-up failed, the default model called a user's high-risk
    archive_file that the request never mentioned (approved: files archived). The try-again turn
    offers the tools it called and the low-risk ones; a failed high-risk call may be fixed."""
    archived: list[str] = []

    @tool(risk=Risk.HIGH)
    def archive_file(file: str) -> str:
        """Archive a sales file. Irreversible.

        Args:
            file: the file's name
        """
        archived.append(file)
        return f"archived {file}"

    llm = ScriptedLLM(
        [call("run_code", code="undefined * 3"), call("run_code", code="0.4 * 3"), answer("1.2")]
    )
    with Agent(llm, tools=[run_code, archive_file], approve=approve_all) as agent:
        agent.run("What is 0.4 * 3?")
    assert _offered(llm.calls[1]) == ["run_code"]  # not archive_file, not the answer
    assert not archived

    @tool(risk=Risk.HIGH)
    def run_risky(code: str) -> ToolResult:
        """Run a line of code with side effects.

        Args:
            code: the code
        """
        return run_code.invoke({"code": code}, None)  # type: ignore[arg-type]

    llm = ScriptedLLM([call("run_risky", code="undefined"), call("run_risky", code="1"), answer("7.7")])
    with Agent(llm, tools=[run_risky, archive_file], approve=approve_all) as agent:
        agent.run("Run it.")
    assert _offered(llm.calls[1]) == ["run_risky"]  # the failed call's own tool: the model fixes it
    # no tool left to offer (the only one is high-risk and was not called): the answer stays offered
    from heron.agents.policies.after_error import TryAgainAfterError
    from heron.agents.policies.base import Allowed, Turn

    turn = Turn(
        run_id="r",
        request="q",
        step=1,
        first=False,
        offered=Allowed(),
        llm=llm,
        tools={"archive_file": archive_file},
        emit=lambda event: None,
        after_error=True,
        tool_errors=1,
        last_called=frozenset({"run_code"}),
    )
    assert TryAgainAfterError(tries=2).allowed(turn) is None


def test_only_the_turn_right_after_failed_calls_is_a_try_again() -> None:
    # not a chat message that follows (its turn follows the user), nor a plan step (it retries itself)
    from heron.agents.turn_offer import _after_error
    from heron.llm.types import Message

    state = RunState(run_id="r", goal="Total?", messages=[Message.user("Total?")], last_call_failed=True)
    state.messages.append(Message(role="tool", content="NameError", name="run_code"))
    assert _after_error(state)
    assert not _after_error(state.model_copy(update={"messages": [*state.messages, Message.user("Hello")]}))
    assert not _after_error(state.model_copy(update={"plan": [PlanStep(do="compute")]}))
    assert not _after_error(state.model_copy(update={"last_call_failed": False}))


def test_a_tools_exception_reaches_the_model_once_not_twice() -> None:
    """The message named the exception, then repeated it as the cause in brackets: the same words
    twice in what the model reads, in the trace and in OpenTelemetry."""

    @tool
    def revenue(file: str) -> float:
        """A sales file's revenue.

        Args:
            file: the file's name
        """
        raise FileNotFoundError(f"no sales file named {file!r}")

    llm = ScriptedLLM([call("revenue", file="west.csv"), answer("There is no west.csv.")])
    with Agent(llm, tools=[revenue]) as agent:
        agent.run("Revenue of west.csv?")
    told = llm.calls[1].messages[-1].content
    assert "FileNotFoundError: no sales file named 'west.csv'" in told
    assert told.count("no sales file named") == 1, told
