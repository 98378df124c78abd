"""A turn's calls as one batch (ToolCaller.call_batch), without a model: order, concurrency,
approvals asked together, checkpoints per call and a resume that makes only the unfinished calls."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from heron.agents.actions import ToolCallAction
from heron.agents.approval import ApprovalRequest, ApprovalResult
from heron.agents.config import AgentConfig
from heron.agents.state import PendingCall, RunState
from heron.agents.tool_calls import ToolCaller
from heron.tools import Risk, ToolContext, ToolResult, tool
from heron.tracing import ToolResultEvent, Tracer

log: list[str] = []
lock = threading.Lock()


def _note(text: str) -> None:
    with lock:
        log.append(text)


@tool(concurrent=True)
def slow_lookup(key: str, seconds: float) -> str:
    """Look a key up, slowly.

    Args:
        key: what to look up
        seconds: how long it takes
    """
    _note(f"start {key}")
    time.sleep(seconds)
    _note(f"end {key}")
    return f"value of {key}"


@tool
def write_down(text: str) -> str:
    """Write a line down (not safe to run alongside others).

    Args:
        text: the line
    """
    _note(f"start {text}")
    time.sleep(0.2)
    _note(f"end {text}")
    return f"wrote {text}"


@tool(risk=Risk.HIGH)
def delete(name: str) -> str:
    """Delete something.

    Args:
        name: what to delete
    """
    _note(f"deleted {name}")
    return f"deleted {name}"


class Approver:
    def __init__(self, deny: Sequence[str] = ()) -> None:
        self.deny = set(deny)
        self.batches: list[list[str]] = []

    def __call__(self, request: ApprovalRequest) -> ApprovalResult:
        return self.approve_batch([request])[0]

    def approve_batch(self, requests: Sequence[ApprovalRequest]) -> list[ApprovalResult]:
        _note("asked")
        self.batches.append([r.arguments["name"] for r in requests])
        return [
            ApprovalResult.deny("not this one")
            if r.arguments["name"] in self.deny
            else ApprovalResult.approve(r.arguments)
            for r in requests
        ]


def _caller(tmp_path: Path, events: list, approve: Approver | None = None) -> ToolCaller:
    tools = [slow_lookup, write_down, delete]
    tracer = Tracer(None, [events.append])
    context = ToolContext(tmp_path / "ws")
    return ToolCaller(
        tools, context, tracer, AgentConfig(), approve or Approver(), lambda: "budget left: plenty"
    )


def call(tool_name: str, **arguments: object) -> ToolCallAction:
    return ToolCallAction(tool=tool_name, arguments=dict(arguments))


def test_concurrent_tools_run_together_and_results_keep_the_calls_order(tmp_path: Path) -> None:
    log.clear()
    events: list = []
    state = RunState(run_id="r", goal="g")
    checkpoints: list[int] = []
    batch = [call("slow_lookup", key="a", seconds=0.6), call("slow_lookup", key="b", seconds=0.1)]
    _caller(tmp_path, events).call_batch(
        state, batch, "final_answer", lambda s: checkpoints.append(len(s.pending_calls))
    )
    assert log.index("start b") < log.index("end a")  # b started before a ended: together
    assert log.index("end b") < log.index("end a")
    results = [m.content for m in state.messages if m.role == "tool"]
    assert (
        "value of a" in results[0] and "value of b" in results[1]
    )  # the calls' order, not the finishing order
    assert checkpoints == [2, 2, 2]  # the batch recorded, then each finished call
    assert state.pending_calls == [] and state.step_calls == 2
    assert [e.tool for e in events if isinstance(e, ToolResultEvent)] == ["slow_lookup", "slow_lookup"]


def test_herons_budget_note_copied_into_an_argument_is_not_sent_to_the_tool(tmp_path: Path) -> None:
    log.clear()
    state = RunState(run_id="r", goal="g")
    copied = "250 EUR = 270.00 USD\n(budget left: 11 steps, 19938 tokens)"  # a result, as the model copied it
    _caller(tmp_path, []).call_batch(state, [call("write_down", text=copied)], "final_answer")
    assert log == ["start 250 EUR = 270.00 USD", "end 250 EUR = 270.00 USD"]
    assert "(budget left: " in state.messages[-1].content  # the model is still told


@tool
def run_code(code: str) -> ToolResult:
    """Run code (fails the way Python does when the code calls a name it does not have).

    Args:
        code: the code
    """
    name = code.split("(")[0]
    return ToolResult(text=f"NameError: name '{name}' is not defined", is_error=True)


def test_code_that_calls_one_of_the_runs_tools_is_told_that_tools_are_not_functions(tmp_path: Path) -> None:
    state = RunState(run_id="r", goal="g")
    caller = _caller(tmp_path, [])
    caller.tools["run_code"] = run_code
    caller.call_batch(state, [call("run_code", code="slow_lookup('a')")], "final_answer")
    assert "[note] slow_lookup is a tool you call on its own" in state.messages[-1].content
    caller.call_batch(state, [call("run_code", code="undefined_thing()")], "final_answer")
    assert "[note]" not in state.messages[-1].content  # a name that is no tool: the error alone


def test_a_batch_with_a_tool_not_marked_concurrent_runs_in_order(tmp_path: Path) -> None:
    log.clear()
    state = RunState(run_id="r", goal="g")
    batch = [
        call("write_down", text="one"),
        call("slow_lookup", key="k", seconds=0.0),
        call("write_down", text="two"),
    ]
    _caller(tmp_path, []).call_batch(state, batch, "final_answer")
    assert log == ["start one", "end one", "start k", "end k", "start two", "end two"]


def test_risky_calls_are_asked_about_together_before_any_call_runs(tmp_path: Path) -> None:
    log.clear()
    approver = Approver(deny=["y"])
    state = RunState(run_id="r", goal="g")
    batch = [call("write_down", text="first"), call("delete", name="x"), call("delete", name="y")]
    _caller(tmp_path, [], approver).call_batch(state, batch, "final_answer")
    assert approver.batches == [["x", "y"]]  # one question for the batch
    assert log[0] == "asked"  # before anything ran
    assert "deleted x" in log and "deleted y" not in log
    messages = [m.content for m in state.messages if m.role == "tool"]
    assert "wrote first" in messages[0] and "deleted x" in messages[1] and "not this one" in messages[2]


def test_a_resumed_batch_makes_only_the_calls_that_had_not_finished(tmp_path: Path) -> None:
    log.clear()
    state = RunState(
        run_id="r",
        goal="g",
        pending_calls=[
            PendingCall(
                call_id="1",
                tool="write_down",
                arguments={"text": "done before"},
                message="[write_down result] wrote done before",
            ),
            PendingCall(call_id="2", tool="write_down", arguments={"text": "not yet"}),
        ],
    )
    _caller(tmp_path, []).finish_pending(state, "final_answer")
    assert log == ["start not yet", "end not yet"]  # the finished call was not made again
    messages = [m.content for m in state.messages if m.role == "tool"]
    assert messages[0] == "[write_down result] wrote done before" and "wrote not yet" in messages[1]
    assert state.pending_calls == []


def test_a_generic_turn_of_several_calls_is_call_objects_one_per_line_with_a_thought_only_first() -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    from heron.agents.actions import ActionSpec
    from heron.agents.turn_formats import TurnRequest, _lines_grammar
    from tests.core.test_grammar_rules import undefined_rules

    specs = [
        ActionSpec(
            "get_weather", "", {"type": "object", "properties": {"city": {"type": "string"}}}, think=True
        ),
        ActionSpec("add", "", {"type": "object", "properties": {"a": {"type": "integer"}}}, think=True),
    ]
    request = TurnRequest(specs, "final_answer", "final_answer", [], 0, 40, 100, 100, max_calls=3)
    grammar = _lines_grammar(request)
    LlamaGrammar.from_string(grammar, verbose=False)
    assert undefined_rules(grammar) == set()  # every rule the turn names is written
    # one to three calls, a new line between two; or the answer alone (never after a call)
    assert 'root ::= heron-call ("\\n" heron-later-call){0,2} | heron-answer' in grammar
    rules = dict(line.split(" ::= ", 1) for line in grammar.splitlines())
    assert rules["heron-call"] == "heron-call-0 | heron-call-1"
    assert rules["heron-later-call"] == "heron-later-call-0 | heron-later-call-1"
    # the first call of a turn may say why; later ones are written before any result, and may not
    for i in (0, 1):
        assert f"heron-call-{i}-thought-kv" in rules[f"heron-call-{i}"]
        assert "thought" not in rules[f"heron-later-call-{i}"]
    assert not any(name.startswith("heron-later-call") and "thought" in name for name in rules)


def test_a_native_answer_cites_only_a_last_sources_line_of_retrieved_ids() -> None:
    from heron.agents.turn_formats import NativeFormat, TurnRequest
    from heron.llm.tool_formats import FORMATS

    native = NativeFormat(FORMATS["hermes"], [])
    request = TurnRequest([], "final_answer", "final_answer", ["ab12", "cd34"], 0, 0, 100, 100, max_calls=1)
    cited = native._action("It is 42 cm.\nSources: ab12, cd34", request)
    assert (cited.answer, cited.citations) == ("It is 42 cm.", ["ab12", "cd34"])
    plain = native._action("The report lists Sources: appendix B", request)
    assert (plain.answer, plain.citations) == ("The report lists Sources: appendix B", [])
    made_up = native._action("It is 42 cm.\nSources: zz99", request)
    assert made_up.citations == [] and made_up.answer.endswith("zz99")


def test_concurrent_calls_report_progress_to_their_own_callbacks(tmp_path: Path) -> None:
    context = ToolContext(tmp_path / "ws")
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def work(name: str) -> None:
        with context.progress_to(lambda done, total, label: seen[name].append(done)):
            for i in range(50):
                context.report_progress(i, 50)
                time.sleep(0.001)

    threads = [threading.Thread(target=work, args=(n,)) for n in seen]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == {"a": list(range(50)), "b": list(range(50))}
    context.report_progress(1, 1)  # after the calls: nobody is told


def test_a_turn_ends_before_a_composed_call_that_would_need_the_results_before_it() -> None:
    from heron.agents.actions import ActionSpec
    from heron.agents.turn_formats import NativeFormat, _ends_batch, _lines_made_together
    from heron.llm.tool_formats import FORMATS, NativeCall

    specs = {
        "convert": ActionSpec("convert", "", {}),
        "lookup": ActionSpec("lookup", "", {}),
        "write_file": ActionSpec("write_file", "", {}, think=True),  # its arguments are composed
        "python": ActionSpec("python", "", {}, think=True),
    }

    def line(tool: str, value: str) -> str:
        return json.dumps({"action": tool, "arguments": {"x": value}})

    usd, jpy, note = line("convert", "USD"), line("convert", "JPY"), line("write_file", "made up")
    # the conversions share a turn; the file written from them waits for their results
    assert _lines_made_together("\n".join([usd, jpy, note]), specs) == [usd, jpy]
    assert _ends_batch(f'{usd}\n{jpy}\n{{"action": "write_file"', specs)  # the decode stops at the name
    assert not _ends_batch(f'{usd}\n{{"action": "lookup"', specs)
    assert not _ends_batch(f'{usd}\n{{"action": "writ', specs)  # not a whole name yet
    # a composed call may open a turn, and calls that compose nothing may follow it
    code = line("python", "print(1)")
    assert _lines_made_together("\n".join([code, usd, line("python", "print(2)")]), specs) == [code, usd]
    # a repeat is made once and ends the decode; a line the decode stopped in is not made
    assert _ends_batch(f"{usd}\n{jpy}\n{usd}\n", specs)
    assert _lines_made_together(f'{usd}\n{usd}\n{jpy}\n{{"action": "wri', specs) == [usd, jpy]
    # the model's own syntax: the same rule, the turn written again without the dropped calls
    hermes, syntax = NativeFormat(FORMATS["hermes"], []), FORMATS["hermes"]
    calls = [NativeCall("convert", {"x": "USD"}), NativeCall("write_file", {"x": "made up"})]
    kept = hermes._made_together(syntax.write(calls, text="Converting first."), list(specs.values()))
    assert syntax.parse(kept).calls == (calls[0],) and kept.startswith("Converting first.")
    whole = syntax.write(calls[::-1])
    assert hermes._made_together(whole, list(specs.values())) == whole


def test_a_turn_ends_before_a_call_the_run_already_made() -> None:
    from heron.agents.actions import ActionSpec, call_key
    from heron.agents.turn_formats import NativeFormat, _ends_batch, _lines_made_together
    from heron.llm.tool_formats import FORMATS, NativeCall

    specs = {"convert": ActionSpec("convert", "", {}), "lookup": ActionSpec("lookup", "", {})}

    def line(tool: str, value: str) -> str:
        return json.dumps({"action": tool, "arguments": {"to": value}})

    usd, jpy, gbp = line("convert", "USD"), line("convert", "JPY"), line("convert", "GBP")
    made = {call_key("convert", {"to": "USD"})}  # an earlier turn converted to USD
    # after the first line, a call already made ends the turn before it: what follows is not made
    assert _lines_made_together("\n".join([jpy, usd, gbp]), specs, made) == [jpy]
    assert _ends_batch(f"{jpy}\n{usd}\n", specs, made) and not _ends_batch(f"{jpy}\n{gbp}\n", specs, made)
    # the first line is the loop's to judge (made, or set aside when the whole turn repeats)
    assert _lines_made_together("\n".join([usd, jpy]), specs, made) == [usd, jpy]
    assert not _ends_batch(f"{usd}\n", specs, made)
    assert _lines_made_together("\n".join([jpy, usd, gbp]), specs) == [jpy, usd, gbp]  # nothing made yet
    # the model's own syntax: the same rule
    hermes, syntax = NativeFormat(FORMATS["hermes"], []), FORMATS["hermes"]
    calls = [NativeCall("convert", {"to": "JPY"}), NativeCall("convert", {"to": "USD"})]
    kept = hermes._made_together(syntax.write(calls), list(specs.values()), made)
    assert syntax.parse(kept).calls == (calls[0],)
