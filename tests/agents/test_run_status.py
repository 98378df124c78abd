"""One status vocabulary: the SDK result, the trace, the run store and the CLI say the same thing,
and heron's own messages are never passed off as the model's answer (scripted model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from heron.agents.agent import Agent
from heron.agents.approval import approve_all, deny_all
from heron.agents.budget import Budget
from heron.agents.config import AgentConfig
from heron.agents.runner import TaskRunner
from heron.agents.templates import render
from heron.config import load_settings
from heron.errors import ContextOverflowError, ModelError, OutputTruncatedError
from heron.llm import HTTPLLM, ScriptedLLM
from heron.status import EXIT_BUDGET, describe, echoes_instructions, run_status
from heron.tools import LONG_TEXT_CHARS, Artifact, Risk, ToolResult, tool, write_file
from heron.tracing import AnswerEvent, RunFinishedEvent, read_trace
from tests.stub_server import stub_server


def call(name: str, **arguments: object) -> dict:
    return {"action": name, "arguments": arguments}


def answer(text: str, *citations: str) -> dict:
    return {"action": "final_answer", "answer": text, "citations": list(citations)}


@tool
def lookup(query: str) -> ToolResult:
    """Look up passages about a subject.

    Args:
        query: what to look for
    """
    if query == "nothing":
        return ToolResult(text="no passages found")
    passage = {"id": "p1", "text": "The grey heron's wingspan is 175 cm."}
    return ToolResult(
        text="[p1] The grey heron's wingspan is 175 cm.",
        artifacts=[Artifact(kind="citation", uri="grey-heron.md", metadata=passage)],
    )


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first number
        b: second number
    """
    return a + b


def _echo(got: list[int]):  # type: ignore[no-untyped-def]
    """A tool that records the length of the text it is given."""

    @tool
    def echo(text: str) -> str:
        """Echo the text.

        Args:
            text: anything
        """
        got.append(len(text))
        return f"got {len(text)} characters"

    return echo


def _run(replies: list[dict], tools: list, goal: str = "goal", **config: object):
    llm = ScriptedLLM(replies)
    with Agent(llm, tools=tools, config=AgentConfig(**config)) as agent:  # type: ignore[arg-type]
        return agent.run(goal), llm


def _finished(result) -> tuple[AnswerEvent, RunFinishedEvent]:
    events = read_trace(result.trace_path)
    return next(e for e in events if isinstance(e, AnswerEvent)), events[-1]


def test_an_answer_of_the_models_own_succeeds_everywhere() -> None:
    result, _ = _run([call("add", a=2, b=40), answer("42")], [add])
    answer_event, finished = _finished(result)
    assert (result.status, result.stopped_by, result.answered, result.answer) == (
        "succeeded",
        "answer",
        True,
        "42",
    )
    assert finished.status == "succeeded" and finished.stopped_by == "answer" and answer_event.answered


def test_the_result_counts_the_calls_that_failed() -> None:
    """A newcomer's unit_price tool raised KeyError for "kiwi"; the model answered a made-up price,
    status succeeded. The status is the model's own answer; the result also says a call failed."""

    @tool
    def unit_price(item: str) -> float:
        """The price of one item.

        Args:
            item: the item's name
        """
        return {"apple": 0.4}[item]

    result, _ = _run([call("unit_price", item="kiwi"), answer("A kiwi costs 0.45 euros.")], [unit_price])
    assert (result.status, result.failed_calls) == ("succeeded", 1)
    result, _ = _run([call("unit_price", item="apple"), answer("An apple costs 0.4 euros.")], [unit_price])
    assert (result.status, result.failed_calls) == ("succeeded", 0)


def test_a_task_run_says_how_many_calls_failed_in_its_outcome_trace_and_printout(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from heron.cli.run import _print_outcome

    task = tmp_path / "task.yaml"
    task.write_text("goal: read the notes\ntools: [read_file]\n")
    replies = [call("read_file", path="absent.txt"), answer("The notes say hello.")]
    done = TaskRunner(load_settings(), ScriptedLLM(replies)).run(task)
    assert (done.status, done.failed_calls) == ("succeeded", 1)
    assert read_trace(Path(done.trace_path))[-1].failed_calls == 1
    _print_outcome(done, as_json=False)
    assert "1 failed call" in capsys.readouterr().out


def test_a_run_says_how_many_calls_were_not_approved_in_its_result_trace_and_printouts(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The default model, its write_file refused, answered "The file 'todo.txt' now contains ... 'pay
    rent'" (status succeeded): the status line says that a call was not approved and did not run."""
    from rich.console import Console

    from heron.agents.approval import deny_all
    from heron.cli.render import render_event
    from heron.cli.repl_view import ReplView
    from heron.cli.run import _print_outcome
    from heron.tools.builtin import tools_by_name

    replies = [call("write_file", path="todo.txt", content="pay rent"), answer("todo.txt now says pay rent.")]
    llm = ScriptedLLM(replies)
    with Agent(
        llm, tools=[tools_by_name()["write_file"]], workspace=tmp_path / "ws", approve=deny_all
    ) as agent:
        chat = agent.chat()
        result = chat.send("Add pay rent to todo.txt")
        llm.add(answer("Hello."))
        second = chat.send("Hi")  # (counted per message)
    assert (result.status, result.denied_calls, result.failed_calls) == ("succeeded", 1, 0)
    assert second.denied_calls == 0 and not (tmp_path / "ws" / "todo.txt").exists()
    finished, _ = [e for e in read_trace(result.trace_path) if e.type == "run_finished"]  # one a message
    assert finished.denied_calls == 1
    assert "generated; 1 call not approved, not run" in render_event(finished)  # heron trace's line
    view = ReplView(Console(width=200, record=True))
    view._show_finished(finished)
    assert "tokens generated; 1 call not approved, not run)" in view.console.export_text()
    task = tmp_path / "task.yaml"
    task.write_text("goal: write the file\ntools: [write_file]\n")
    done = TaskRunner(load_settings(), ScriptedLLM(replies)).run(task)  # (a task's approver: none, denied)
    assert (done.status, done.denied_calls) == ("succeeded", 1)
    _print_outcome(done, as_json=False)
    assert "(1 step, 1 call not approved, not run)" in capsys.readouterr().out


def test_numbers_no_tool_result_shows_are_named_in_the_result_trace_and_printouts(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A newcomer's run listed the sales files, then answered "The combined revenue in euros is
    12345.67." (status succeeded): no tool had given that figure. The status stays the model's own
    answer; result, trace and printouts name the figure as the model's own, unchecked."""
    from rich.console import Console

    from heron.cli.render import render_event
    from heron.cli.repl_view import ReplView
    from heron.cli.run import _print_outcome

    @tool
    def mean(values: list[float]) -> float:
        """The mean of some numbers.

        Args:
            values: the numbers
        """
        return sum(values) / len(values)

    replies = [call("mean", values=[175, 95, 185]), answer("151.67 on average, which is 12,345.67 in euros.")]
    result, _ = _run(replies, [mean], goal="The mean of 175, 95 and 185, in euros.")
    assert (result.status, result.unsourced_numbers) == ("succeeded", ["12345.67"])  # 151.67: rounded
    answer_event = next(e for e in read_trace(result.trace_path) if isinstance(e, AnswerEvent))
    assert answer_event.unsourced == ["12345.67"]
    note = "no tool result, document or the request shows 12345.67: the model's own figure, unchecked"
    assert note in render_event(answer_event)  # heron trace
    view = ReplView(Console(width=300, record=True))
    view._show_answer(answer_event)
    assert note in view.console.export_text()  # heron chat
    # a number the request gives, or a tool result shows, is not the model's own; nor, in a chat, a
    # figure an earlier message's tool gave
    llm = ScriptedLLM(
        [call("add", a=2, b=40), answer("2 and 40 make 42."), answer("It was 42; 58 more is 100.")]
    )
    with Agent(llm, tools=[add]) as agent:
        chat = agent.chat()
        assert chat.send("Add 2 and 40.").unsourced_numbers == []
        assert chat.send("What was it, and what is 58 more?").unsourced_numbers == ["100"]
    task = tmp_path / "task.yaml"
    task.write_text("goal: add the numbers\ntools: [calculator]\n")
    done = TaskRunner(load_settings(), ScriptedLLM([answer("The total is 77.5.")])).run(task)
    assert (done.status, done.unsourced_numbers) == ("succeeded", ["77.5"])
    _print_outcome(done, as_json=False)
    assert "shows 77.5: the model's own figure" in capsys.readouterr().out


@pytest.mark.parametrize("max_steps", [None, 1])
def test_the_answer_carries_the_number_of_the_turn_that_wrote_it(max_steps: int | None) -> None:
    """`heron run -v` printed "3 model: ..." then "2 answer: ..." for the same turn."""
    from heron.tracing import ModelTurnEvent

    budget = {"budget": Budget(max_steps=max_steps)} if max_steps else {}
    result, _ = _run([call("add", a=1, b=2), answer("3")], [add], **budget)
    assert result.stopped_by == ("max_steps" if max_steps else "answer")
    events = read_trace(result.trace_path)
    last_turn = [e for e in events if isinstance(e, ModelTurnEvent)][-1]
    assert next(e for e in events if isinstance(e, AnswerEvent)).step == last_turn.step


def test_a_step_budget_says_budget_exhausted_max_steps_in_result_and_trace() -> None:
    result, _ = _run(
        [call("add", a=1, b=2), call("add", a=3, b=4), answer("7 so far")], [add], budget=Budget(max_steps=2)
    )
    _, finished = _finished(result)
    assert result.status == "budget_exhausted" and result.stopped_by == "max_steps"
    assert result.describe_status() == "budget_exhausted (max_steps)"
    assert (finished.status, finished.stopped_by) == ("budget_exhausted", "max_steps")
    assert result.answer == "7 so far" and result.answered  # a real (if early) answer is kept


def test_a_forced_answer_that_echoes_the_stop_message_is_no_answer() -> None:
    stop = render("agent_budget_end", limit="max_steps")
    result, _ = _run([call("add", a=1, b=2), answer(stop)], [add], budget=Budget(max_steps=1))
    answer_event, finished = _finished(result)
    assert result.status == "budget_exhausted" and not result.answered
    assert result.answer == "" and "heron's instructions" in result.note
    assert answer_event.text == "" and not answer_event.answered and finished.status == "budget_exhausted"


def test_a_normal_answer_that_only_echoes_a_hint_is_no_answer() -> None:
    hint = render("agent_repeat", tool="add", final="final_answer", budget="")
    # every turn must call a tool, so a repeat gets a hint (where an answer is offered, the turn is
    # taken again without the repeated tool instead)
    replies = [call("add", a=1, b=1), call("add", a=1, b=1), answer(hint)]
    result, _ = _run(replies, [add], tool_choice="required")
    assert result.status == "no_answer" and result.answer == "" and result.stopped_by == "answer"


def test_an_answer_that_reports_a_tools_own_error_is_an_answer(tmp_path: Path) -> None:
    """A tool's error ("`missing.txt` does not exist in the workspace; ...") is what the tool said, not
    heron's instruction: an answer passing it on is the model's own. Heron's own wording around it
    ("Fix the arguments and call again") still is not."""
    from heron.tools import read_file

    said = "The file `missing.txt` does not exist in the workspace; call list_files to see what does"
    llm = ScriptedLLM([call("read_file", path="missing.txt"), answer(said)])
    with Agent(llm, tools=[read_file], workspace=tmp_path) as agent:
        result = agent.run("Read missing.txt and tell me what it says.")
    assert (result.status, result.answer) == ("succeeded", said)
    echo = ScriptedLLM(
        [
            call("read_file", path="missing.txt"),
            answer("Fix the arguments and call again, or choose another action."),
        ]
    )
    with Agent(echo, tools=[read_file], workspace=tmp_path) as agent:
        assert agent.run("Read missing.txt.").status == "no_answer"
    # heron's own words about arguments that do not fit the schema are not the tool's: no answer either
    wrong = ScriptedLLM(
        [call("read_file", max_chars="many"), answer("invalid arguments for tool `read_file`")]
    )
    with Agent(wrong, tools=[read_file], workspace=tmp_path) as agent:
        wrong_result = agent.run("Read a file.")
    told = wrong.calls[1].messages[-1].content
    assert told.startswith("[read_file: invalid call] invalid arguments for tool `read_file`")
    assert wrong_result.status == "no_answer"


def test_an_answer_that_repeats_the_denied_calls_message_is_no_answer() -> None:
    """A newcomer denied a python call in `heron chat` and the model answered with heron's "The user
    did not approve this call: ..." message, which was shown as the answer, status succeeded."""

    @tool(risk=Risk.HIGH)
    def delete(path: str) -> str:
        """Delete a file.

        Args:
            path: the file
        """
        return f"deleted {path}"

    denied = (
        "The user did not approve this call: denied by the user. "
        "Choose another action or finish with final_answer."
    )
    llm = ScriptedLLM([call("delete", path="a.txt"), answer(denied)])
    with Agent(llm, tools=[delete], approve=deny_all) as agent:
        result = agent.run("delete a.txt")
    assert result.status == "no_answer" and result.answer == "" and not result.answered
    # the model's own answer after a denial is an answer
    llm = ScriptedLLM([call("delete", path="a.txt"), answer("I did not delete a.txt: you declined.")])
    with Agent(llm, tools=[delete], approve=deny_all) as agent:
        result = agent.run("delete a.txt")
    assert (result.status, result.answer) == ("succeeded", "I did not delete a.txt: you declined.")


def test_an_answer_that_says_what_the_callers_step_asked_for_is_the_models_own(tmp_path: Path) -> None:
    """A step's text is the caller's words, not heron's: answering "Say that the ledger is done."
    with "The ledger is done." is an answer; repeating the step instruction's own wording is not."""
    task = tmp_path / "task.yaml"
    task.write_text(
        "goal: finish the ledger\ntools: [calculator]\nsteps:\n"
        "  - {do: 'Add one and two.', tool: calculator, args: {expression: '1+2'}}\n"
        "  - {do: 'Say that the ledger is done.'}\n"
    )
    step = [call("calculator", expression="1+2")]  # (a short result: no note turn)
    done = TaskRunner(load_settings(), ScriptedLLM([*step, answer("The ledger is done.")])).run(task)
    assert (done.status, done.answer) == ("succeeded", "The ledger is done.")
    echo = answer("This is the last step: finish with final_answer.")
    echoed = TaskRunner(load_settings(), ScriptedLLM([*step, echo])).run(task)
    assert echoed.status == "no_answer" and echoed.answer == ""


def test_repeated_calls_end_with_status_repeated_call() -> None:
    result, _ = _run([call("add", a=1, b=1)] * 3 + [answer("2")], [add], tool_choice="required")
    _, finished = _finished(result)
    assert result.status == finished.status == "repeated_call" and result.answer == "2"


def test_citations_are_listed_once() -> None:
    result, _ = _run([call("lookup", query="heron"), answer("175 cm", "p1", "p1")], [lookup])
    assert [c.id for c in result.citations] == ["p1"] and result.citations[0].source == "grey-heron.md"


def test_required_citations_hold_the_answer_back_until_something_citable_was_retrieved() -> None:
    result, llm = _run(
        [call("lookup", query="heron"), answer("175 cm", "p1")], [lookup], require_citations=True
    )
    first = llm.calls[0].schema
    assert "final_answer" not in str(first)  # the first turn could only call a tool
    assert "final_answer" in str(llm.calls[1].schema) and result.status == "succeeded"


def test_required_citations_with_nothing_retrieved_end_without_an_answer() -> None:
    replies = [call("lookup", query="nothing"), call("lookup", query="nothing"), answer("about 1.5 m")]
    result, _ = _run(replies, [lookup], require_citations=True, budget=Budget(max_steps=2))
    assert not result.answered and result.answer == "" and "nothing citable" in result.note
    assert result.status == "budget_exhausted"


def test_required_citations_after_a_search_that_found_nothing_relevant_say_so_without_an_answer() -> None:
    """A citing tool (retrieve) that found nothing relevant ends the wait for something citable: the
    answer is offered, cites nothing, and the result says nothing relevant was found in memory."""
    citing = tool(cites=True)(lookup._function)
    replies = [call("lookup", query="nothing"), answer("Penguins eat fish.")]
    result, llm = _run(replies, [citing], require_citations=True)
    assert "final_answer" not in str(llm.calls[0].schema) and "final_answer" in str(llm.calls[1].schema)
    assert (result.status, result.answered, result.answer) == ("no_answer", False, "")
    assert result.note == "nothing relevant was found in memory, and answers must cite (require_citations)"


def test_a_chat_message_searches_again_before_its_answer_even_after_a_fruitless_search() -> None:
    from heron.agents.chat import ChatSession

    citing = tool(cites=True)(lookup._function)
    replies = [call("lookup", query="nothing"), answer("Nothing on penguins."), call("lookup", query="heron")]
    llm = ScriptedLLM([*replies, answer("175 cm", "p1")])
    with Agent(llm, tools=[citing], config=AgentConfig(require_citations=True)) as agent:
        chat = ChatSession(agent)
        first = chat.send("What about penguins?")
        second = chat.send("And the grey heron's wingspan?")
    assert first.note.startswith("nothing relevant was found in memory")
    # the second message's first turn may only search again: the first message's search does not count
    assert "final_answer" not in str(llm.calls[2].schema) and second.status == "succeeded"


def test_a_chat_answer_is_not_given_the_sources_of_an_earlier_message() -> None:
    """A newcomer's `heron chat`: after a question answered from a passage, "What is the capital of
    Canada?" was answered with no citation from the model, yet listed that passage as its source
    (the number of the first answer, written after the passage was shown, traced it again)."""
    from heron.agents.chat import ChatSession

    replies = [call("lookup", query="heron"), answer("175 cm"), answer("Ottawa."), answer("175")]
    llm = ScriptedLLM([*replies, answer("A grey heron and its wingspan.")])
    with Agent(llm, tools=[lookup]) as agent:
        chat = ChatSession(agent)
        first = chat.send("How wide are a grey heron's wings?")
        second = chat.send("What is the capital of Canada?")
        third = chat.send("Say the wingspan again.")
        poem = chat.send("Write a line about birds.")
    assert [c.id for c in first.citations] == ["p1"]  # traced: 175 is in the passage
    assert second.answer == "Ottawa." and second.citations == []
    # a number of this message's answer still traces to a passage an earlier one retrieved
    assert [c.id for c in third.citations] == ["p1"]
    # a word does not: only the passages this message's own searches showed are traced by words
    assert poem.citations == []


@pytest.mark.parametrize(
    ("text", "echo"),
    [
        ("No more tool calls. Give your best final answer now from what you have.", True),
        ("", True),
        ("The mean wingspan is 151.67 cm [p1][p2][p3].", False),
        ("3", False),  # short answers are the model's own, even when heron's messages hold the word
        ("Give your best", False),
        ("I could not find it; give your best guess is not possible.", False),
    ],
)
def test_echo_detection(text: str, echo: bool) -> None:
    heron_says = ["No more tool calls. Give your best final answer now from what you have. (max_steps)"]
    assert echoes_instructions(text, heron_says) is echo


def test_status_vocabulary() -> None:
    assert run_status("answer", True) == "succeeded"
    assert run_status("answer", True, checks_passed=False) == "checks_failed"
    assert run_status("max_tokens", True, checks_passed=True) == "budget_exhausted"  # never succeeded
    assert run_status("answer", False) == "no_answer"
    assert describe("budget_exhausted", "max_seconds") == "budget_exhausted (max_seconds)"
    assert describe("succeeded", "answer") == "succeeded"


def test_a_task_whose_budget_ends_is_budget_exhausted_even_when_its_checks_pass(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(
        "goal: add numbers\ntools: [calculator]\nbudget: {max_steps: 1}\nchecks:\n  - answer_contains: '3'\n"
    )
    llm = ScriptedLLM([call("calculator", expression="1+2"), answer("3")])
    outcome = TaskRunner(load_settings(), llm).run(task)
    assert outcome.status == "budget_exhausted" and outcome.exit_code == EXIT_BUDGET
    assert outcome.stopped_by == "max_steps" and all(c.passed for c in outcome.checks)
    stored = TaskRunner(load_settings(), llm).store.get(outcome.run_id)
    assert stored.status == "budget_exhausted"
    assert read_trace(Path(outcome.trace_path))[-1].status == "budget_exhausted"


def test_required_citations_call_a_citing_tool_first() -> None:
    citing = tool(cites=True)(lookup._function)  # the same function, declared as returning citations
    result, llm = _run(
        [call("lookup", query="heron"), call("add", a=1, b=2), answer("175 cm", "p1")],
        [citing, add],
        require_citations=True,
    )
    first, second = str(llm.calls[0].schema), str(llm.calls[1].schema)
    assert "lookup" in first and "'add'" not in first and "final_answer" not in first
    assert "'add'" in second and "final_answer" in second and result.status == "succeeded"


def test_without_required_citations_every_tool_and_the_answer_are_offered() -> None:
    citing = tool(cites=True)(lookup._function)
    _, llm = _run([answer("hello")], [citing, add])
    first = str(llm.calls[0].schema)
    assert "lookup" in first and "'add'" in first and "final_answer" in first


def test_failed_checks_say_checks_failed_in_the_outcome_the_store_and_the_trace(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("goal: add numbers\ntools: [calculator]\nchecks:\n  - answer_contains: '4'\n")
    llm = ScriptedLLM([call("calculator", expression="1+2"), answer("3")])
    runner = TaskRunner(load_settings(), llm)
    outcome = runner.run(task)
    assert outcome.status == "checks_failed" and outcome.exit_code == 1
    assert runner.store.get(outcome.run_id).status == "checks_failed"
    assert read_trace(Path(outcome.trace_path))[-1].status == "checks_failed"


def test_a_call_whose_string_filled_its_length_bound_is_not_run_and_the_model_is_told() -> None:
    """A string that filled its bound was cut off by the grammar: not what the model meant to send
    (the demo's report once ended "The great" and one character), so the call is not made."""
    got: list[int] = []
    echo = _echo(got)
    long, short = "x" * 50, "x" * 49
    result, llm = _run(
        [call("echo", text=long), call("echo", text=short), answer("ok")], [echo], argument_chars=50
    )
    cut_result, whole_result = llm.calls[1].messages[-1].content, llm.calls[2].messages[-1].content
    assert got == [49]  # only the whole one ran
    assert "invalid call" in cut_result and "text (50 characters) reached its length limit" in cut_result
    assert "not run" in cut_result and "cut off" not in whole_result and "got 49" in whole_result
    results = [e for e in read_trace(result.trace_path) if e.type == "tool_result"]
    assert [r.is_error for r in results] == [True, False]


def test_a_long_text_parameter_takes_a_file_the_default_bound_would_cut(tmp_path: Path) -> None:
    """``write_file``'s content is ``LongText``: 3,000 characters where other strings get 800, held by
    the decode loop (``string_bounds``) since a grammar holds at most 1,000."""
    report = "The grey heron stands still in the shallows. " * 34  # 1,530 characters
    llm = ScriptedLLM([call("write_file", path="report.md", content=report), answer("written")])
    with Agent(llm, tools=[write_file], workspace=tmp_path, approve=approve_all) as agent:
        result = agent.run("write the report")
    assert result.status == "succeeded"
    assert (tmp_path / "report.md").read_text() == report
    first_turn = llm.calls[0].options
    assert first_turn is not None and first_turn.string_bounds == {"content": LONG_TEXT_CHARS}


def test_the_default_string_bound_may_pass_what_a_grammar_holds() -> None:
    """``argument_chars`` over 1,000 (llama.cpp's grammar limit) is held by the decode loop: the
    bound goes to the model call as ``string_bounds``, and a string under it runs whole."""
    got: list[int] = []
    echo = _echo(got)
    result, llm = _run([call("echo", text="x" * 1400), answer("ok")], [echo], argument_chars=1500)
    assert result.status == "succeeded" and got == [1400]
    first_turn = llm.calls[0].options
    assert first_turn is not None and first_turn.string_bounds == {"text": 1500}
    _, default = _run([call("echo", text="x"), answer("ok")], [echo])
    assert default.calls[0].options is not None and default.calls[0].options.string_bounds == {}


def test_an_answer_that_ends_at_its_length_bound_is_reported_cut() -> None:
    """The grammar ends an answer at ``answer_chars``: the result and the trace say the answer was
    cut there (the CLI and the REPL print a note under it); a shorter answer is not flagged."""
    cut, _ = _run([answer("y" * 95)], [add], answer_chars=100)  # its next word did not fit
    whole, _ = _run([answer("y" * 80)], [add], answer_chars=100)
    assert cut.status == "succeeded" and cut.answer_cut and _finished(cut)[0].cut
    assert not whole.answer_cut and not _finished(whole)[0].cut


def test_heron_run_prints_a_note_under_a_cut_answer(capsys: pytest.CaptureFixture) -> None:
    from heron.agents.runner import TaskOutcome
    from heron.cli.run import _print_outcome
    from heron.status import CUT_NOTE

    fields = {"run_id": "r", "task": "t", "status": "succeeded", "exit_code": 0, "answer": "The life"}
    _print_outcome(TaskOutcome(**fields, answer_cut=True), as_json=False)
    _print_outcome(TaskOutcome(**fields), as_json=False)
    assert " ".join(capsys.readouterr().out.split()).count(CUT_NOTE) == 1


@pytest.mark.parametrize("notes", [True, False])
def test_a_task_file_turns_step_notes_on_or_off(tmp_path: Path, notes: bool) -> None:
    task = tmp_path / "task.yaml"
    (tmp_path / "ws").mkdir()
    log = [f"{hour:02d}:00 water level normal, nothing to report" for hour in range(10)]
    (tmp_path / "ws" / "log.txt").write_text("\n".join([*log, "total: 7 herons"]))  # a long result
    steps = "steps:\n  - {do: read the log, tool: read_file}\n  - do: answer\n"
    header = "goal: count the herons\ntools: [read_file]\nworkspace: ws\n"
    task.write_text(f"{header}{steps}step_notes: {str(notes).lower()}\n")
    note = {"action": "step_done", "answer": "7 herons", "citations": []}
    llm = ScriptedLLM([call("read_file", path="log.txt"), *([note] if notes else []), answer("7")])
    outcome = TaskRunner(load_settings(), llm).run(task)
    assert outcome.status == "succeeded" and outcome.answer == "7"
    actions = [c.schema.get("properties", {}).get("action", {}).get("const") for c in llm.calls]
    assert actions.count("step_done") == (1 if notes else 0)


def test_a_reply_cut_by_its_token_limit_is_told_to_the_model_and_the_run_goes_on() -> None:
    cut = OutputTruncatedError("structured output was cut off after max_tokens=512")
    # the turn is first tried again with twice the tokens; cut again, the model is told
    result, llm = _run([cut, cut, call("add", a=2, b=40), answer("42")], [add])
    assert result.status == "succeeded" and result.answer == "42"
    assert len(llm.calls[1].messages) == 2  # the retry with more tokens: the same prompt
    told = [m.content for m in llm.calls[2].messages if m.role == "user"][-1]
    assert told.startswith("[your reply was cut off]") and "max_tokens" not in told  # for the model


def test_a_cut_decode_shows_in_the_trace_with_what_it_wrote_and_its_tokens_count() -> None:
    """Two cut decodes took most of a demo's nine minutes and showed nowhere: each is now a model
    turn marked cut, holding its text, and its tokens count against the budget."""
    rambling = '{"action": "add", "thought": "' + "and so on " * 20
    cut = OutputTruncatedError("structured output was cut off after max_tokens=512", text=rambling)
    result, _ = _run([cut, cut, call("add", a=2, b=40), answer("42")], [add])
    turns = [e for e in read_trace(result.trace_path) if e.type == "model_turn"]
    assert [t.cut for t in turns] == [True, True, False, False]
    assert turns[0].output == rambling and turns[0].completion_tokens == len(rambling.split())
    assert result.usage.completion_tokens == sum(t.completion_tokens for t in turns)
    from heron.cli.render import render_event

    assert "cut off at the turn's token limit" in render_event(turns[0])


@pytest.mark.parametrize(
    "failure",
    [
        ContextOverflowError("the prompt has 5000 tokens; it does not fit the context of 4096 tokens"),
        ModelError("llama_decode failed with code 1 while evaluating 12 tokens"),
    ],
)
def test_a_model_failure_other_than_a_cut_ends_the_run_with_status_error_after_one_attempt(
    failure: ModelError, tmp_path: Path
) -> None:
    llm = ScriptedLLM([failure, answer("never reached")])
    settings = load_settings(data_dir=tmp_path)
    with Agent(llm, tools=[add], settings=settings) as agent, pytest.raises(type(failure)) as raised:
        agent.run("What is 2 + 40?")
    assert len(llm.calls) == 1 and str(failure) in str(raised.value)
    (trace,) = (tmp_path / "traces").glob("*.jsonl")
    finished = read_trace(trace)[-1]
    assert isinstance(finished, RunFinishedEvent) and finished.status == "error"
    assert str(failure) in finished.error


def test_a_served_model_answering_http_500_ends_the_run_with_status_error_after_one_request(
    tmp_path: Path,
) -> None:
    with stub_server(["crashing-model"], post_status=500, post_body=b'{"error": "model crashed"}') as server:
        llm = HTTPLLM(server.url)
        settings = load_settings(data_dir=tmp_path)
        with Agent(llm, tools=[add], settings=settings) as agent, pytest.raises(ModelError) as raised:
            agent.run("What is 2 + 40?")
    assert "HTTP 500" in str(raised.value) and "model crashed" in str(raised.value)
    assert len(server.posted) == 1  # no retry loop
    (trace,) = (tmp_path / "traces").glob("*.jsonl")
    finished = read_trace(trace)[-1]
    assert (
        isinstance(finished, RunFinishedEvent) and finished.status == "error" and "HTTP 500" in finished.error
    )


def test_a_run_store_gone_mid_run_fails_the_run_with_exit_1_and_says_how_to_resume(tmp_path: Path) -> None:
    """Exit code 2 means "an invalid task file or setting; nothing ran": a store that stops answering
    after the run started is a failed run (1), and the message says how to go on."""
    from heron.errors import UsageError

    task = tmp_path / "task.yaml"
    task.write_text("goal: add\ntools: [calculator]\n")
    runner = TaskRunner(load_settings(), ScriptedLLM([call("calculator", expression="1+2"), answer("3")]))
    written = runner.store.checkpoint

    def store_gone_after_the_first(state: Any, **kwargs: Any) -> None:
        if state.step >= 1:
            raise UsageError("the run store db.internal failed: connection refused", "check the database")
        written(state, **kwargs)

    runner.store.checkpoint = store_gone_after_the_first  # type: ignore[method-assign]
    with runner:
        outcome = runner.run(task)
    assert (outcome.status, outcome.exit_code) == ("error", 1)
    assert "connection refused; the run stopped after step 1" in outcome.error
    assert f"`heron resume {outcome.run_id}`" in outcome.error


def test_a_run_store_gone_at_the_runs_end_keeps_the_answer_and_fails_with_exit_1(tmp_path: Path) -> None:
    """The run finished and its answer is the user's; only its record failed. Not exit 2 ("nothing
    ran"): the outcome carries the answer, exit 1, and says what the store still holds."""
    from heron.errors import UsageError

    task = tmp_path / "task.yaml"
    task.write_text("goal: add\ntools: [calculator]\n")
    runner = TaskRunner(load_settings(), ScriptedLLM([call("calculator", expression="1+2"), answer("3")]))

    def store_gone(*args: Any, **kwargs: Any) -> None:
        raise UsageError("the run store db.internal failed: connection refused", "check the database")

    runner.store.finish = store_gone  # type: ignore[method-assign]
    with runner:
        outcome = runner.run(task)
    assert (outcome.status, outcome.exit_code, outcome.answer) == ("succeeded", 1, "3")
    assert "the run finished (succeeded), but its end was not recorded" in outcome.error
    assert "connection refused" in outcome.error
