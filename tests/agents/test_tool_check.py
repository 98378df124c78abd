"""The first-call check (agents/policies/first_call_check.py): the model is asked whether the tool
its first turn called does what the request asks, and its likelier reply decides. Scripted model:
exact control of every turn and of the Yes/No scores."""

from __future__ import annotations

import json
import math
from pathlib import Path

from heron.agents.agent import Agent
from heron.agents.budget import Budget
from heron.agents.config import AgentConfig
from heron.agents.policies.first_call_check import checks_first_call, tool_fit
from heron.agents.state import PlanStep
from heron.errors import UsageError
from heron.llm import Completion, GenerationOptions, ScriptedLLM, Usage
from heron.llm.yes_no import JUDGE_MIN_PARAMETERS, calibrated
from heron.tracing import read_trace

# scores of the replies Yes, yes, No, no, in the order the check asks: the content-free "N/A", the
# request, then the other content-free requests while the verdict is open
FREE = [math.log(0.6), math.log(0.3), math.log(0.08), math.log(0.02)]  # P(Yes) 0.9 whatever is asked
SAYS_LESS_YES = [math.log(0.45), math.log(0.25), math.log(0.2), math.log(0.1)]  # 0.7: below its bias
SAYS_MORE_YES = [math.log(0.7), math.log(0.29), math.log(0.005), math.log(0.005)]  # 0.99: above it
# 0.7 against a first 0.9: the mean could still be 0.3 to 0.97, and 0.6 to 0.93 after the second
UNFIT = [FREE, SAYS_LESS_YES, FREE, FREE]
# 0.99 is above every mean a first 0.9 allows (0.97 at most): the other two are not asked
FIT = [FREE, SAYS_MORE_YES]


def call(tool: str, **arguments: object) -> dict:
    return {"action": tool, "arguments": arguments}


def answer(text: str) -> dict:
    return {"action": "final_answer", "answer": text, "citations": []}


def _agent(llm: ScriptedLLM, tools: list, **config: object) -> Agent:
    return Agent(llm, tools=tools, config=AgentConfig(check_first_call=True, **config))  # type: ignore[arg-type]


def test_a_first_call_the_model_judges_unfit_is_set_aside_and_the_turn_taken_again(
    demo_tools: list, ledger: Path
) -> None:
    # add is judged unfit, then the other tool, delete_everything, too: the turn offers the answer alone
    script = [call("add", a=1, b=2), *UNFIT, *UNFIT, answer("About 95 kcal.")]
    llm = ScriptedLLM(script)
    with _agent(llm, demo_tools) as agent:
        result = agent.run("How many calories does an apple have?")
    assert result.answer == "About 95 kcal." and result.status == "succeeded"
    assert not ledger.exists()  # the tool never ran
    first_free, question, *content_free = llm.calls[1:5]
    assert question.method == "score_options" and question.choices == ("Yes", "yes", "No", "no")
    prompt = question.messages[-1].content
    assert "How many calories does an apple have?" in prompt and "add: Add two integers." in prompt
    asked = [c.messages[-1].content for c in (first_free, *content_free)]  # "N/A", "", "[MASK]"
    assert "Request: N/A" in asked[0] and "Request: \n" in asked[1] and "Request: [MASK]" in asked[2]
    assert all("add: Add" in prompt for prompt in asked)
    assert "delete_everything" in llm.calls[8].messages[-1].content  # the other tool, asked the same way
    # the turn is taken again with no tool that fits: the answer alone; it does not see the set-aside call
    retry = llm.calls[9]
    assert "final_answer" in str(retry.schema) and not {"add", "delete_everything"} & set(_offered(retry))
    assert [m.role for m in retry.messages] == ["system", "user"]
    checks = [e for e in read_trace(result.trace_path) if e.type == "tool_check"]
    # P(Yes) 0.7 where the model says 0.9 to any request: calibrated, 0.21
    assert [(c.tool, c.kept, c.yes, c.bias, round(c.fits, 2)) for c in checks] == [
        ("add", False, 0.7, 0.9, 0.21),
        ("delete_everything", False, 0.7, 0.9, 0.21),
    ]


def test_a_first_call_the_model_judges_fit_goes_ahead(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedLLM([call("add", a=2, b=40), *FIT, answer("42")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("What is 2 + 40?")
    assert result.answer == "42" and ledger.read_text() == "add 2 40\n"
    checks = [e for e in read_trace(result.trace_path) if e.type == "tool_check"]
    assert [(c.tool, c.kept) for c in checks] == [("add", True)]


def test_the_models_yes_bias_for_a_tool_is_asked_once(demo_tools: list, ledger: Path) -> None:
    # the content-free question depends on the tool only: a second request to it asks the request alone
    llm = ScriptedLLM([call("add", a=2, b=40), *FIT, answer("42")])
    llm.add(call("add", a=1, b=1), SAYS_MORE_YES, answer("2"))
    with _agent(llm, demo_tools) as agent:
        first, second = agent.run("What is 2 + 40?"), agent.run("What is 1 + 1?")
    assert (first.answer, second.answer) == ("42", "2")
    asked = [c.messages[-1].content for c in llm.calls if c.method == "score_options"]
    assert ["Request: N/A" in prompt for prompt in asked] == [True, False, False]
    assert "What is 2 + 40?" in asked[1] and "What is 1 + 1?" in asked[2]
    checks = [e for e in read_trace(second.trace_path) if e.type == "tool_check"]
    # the bias is bounded by the one content-free request asked: 0.97 at most, below the request's 0.99
    assert [(c.tool, c.kept, c.bias, c.bias_asked) for c in checks] == [("add", True, 0.9667, 1)]


def test_only_the_first_turn_of_a_free_request_is_checked(demo_tools: list, ledger: Path) -> None:
    # later turns follow tool results: the second call is not asked about
    llm = ScriptedLLM([call("add", a=1, b=2), *FIT, call("add", a=3, b=3), answer("6")])
    with _agent(llm, demo_tools) as agent:
        agent.run("1+2, then 3+3")
    assert [c.method for c in llm.calls].count("score_options") == 2  # "N/A", then the request
    # a direct answer is not checked
    llm = ScriptedLLM([answer("hello")])
    with _agent(llm, demo_tools) as agent:
        agent.run("hi")
    assert [c.method for c in llm.calls] == ["structured_json"]


def test_forced_choices_plans_and_citations_first_are_not_checked(demo_tools: list, ledger: Path) -> None:
    # tool_choice="required": the answer is not offered, so there is nothing to fall back to
    llm = ScriptedLLM([call("add", a=1, b=1), answer("2")])
    with _agent(llm, demo_tools, tool_choice="required") as agent:
        agent.run("1+1")
    # a plan step names its tool: the plan has decided
    llm = ScriptedLLM([call("add", a=1, b=1), answer("2")])
    with _agent(llm, demo_tools, step_notes=False) as agent:
        agent.run("1+1", plan=[PlanStep(do="add them", tool="add")])
    # require_citations: until something citable was retrieved, the answer is not offered
    llm = ScriptedLLM([call("add", a=1, b=1), answer("2")])
    with _agent(llm, demo_tools, require_citations=True) as agent:
        agent.run("1+1", budget=Budget(max_steps=1))
    assert "score_options" not in [c.method for c in llm.calls]


def test_off_by_configuration_and_by_default_for_small_or_unsized_models(demo_tools: list) -> None:
    llm = ScriptedLLM([call("add", a=1, b=1), answer("2")])
    with Agent(llm, tools=demo_tools, config=AgentConfig(check_first_call=False)) as agent:
        agent.run("1+1")
    assert "score_options" not in [c.method for c in llm.calls]

    class Sized:
        def __init__(self, parameters: int | None) -> None:
            self.parameter_count = parameters

    assert checks_first_call(AgentConfig(), Sized(1_543_714_304))  # type: ignore[arg-type]  # Qwen2.5-1.5B
    assert not checks_first_call(AgentConfig(), Sized(134_515_008))  # type: ignore[arg-type]  # SmolLM2-135M
    assert not checks_first_call(AgentConfig(), Sized(None))  # type: ignore[arg-type]
    assert not checks_first_call(AgentConfig(), ScriptedLLM([]))  # no size: a scripted model or a server
    assert checks_first_call(AgentConfig(check_first_call=True), Sized(134_515_008))  # type: ignore[arg-type]
    assert JUDGE_MIN_PARAMETERS == 1_000_000_000


class ServedModel:
    """A backend with the LLM protocol only, like a served model: it cannot score given replies."""

    def __init__(self, replies: list) -> None:
        self._scripted = ScriptedLLM(replies)
        self.name, self.calls = "served", self._scripted.calls

    @property
    def last_usage(self):
        return self._scripted.last_usage

    def chat(self, messages, options=None):
        return self._scripted.chat(messages, options)

    def stream(self, messages, options=None):
        return self._scripted.stream(messages, options)

    def structured(self, messages, schema, options=None):
        return self._scripted.structured(messages, schema, options)

    def structured_json(self, messages, schema, options=None):
        return self._scripted.structured_json(messages, schema, options)

    def close(self) -> None:
        self._scripted.close()


def test_a_backend_that_cannot_score_keeps_the_call(demo_tools: list, ledger: Path) -> None:
    assert tool_fit(ServedModel([]), "1+1", demo_tools[0]) is None
    llm = ServedModel([call("add", a=1, b=1), answer("2")])
    with Agent(llm, tools=demo_tools, config=AgentConfig(check_first_call=True)) as agent:  # type: ignore[arg-type]
        result = agent.run("1+1")
    assert ledger.read_text() == "add 1 1\n" and result.answer == "2"
    assert not [e for e in read_trace(result.trace_path) if e.type == "tool_check"]


def test_calibration_divides_the_models_yes_bias_out_of_both_replies() -> None:
    # a model that says Yes 90% of the time to any request: its 0.6 for this one is a No ...
    assert calibrated(0.6, 0.9) < 0.5
    # ... its 0.99 a Yes, and saying exactly its bias is a tie
    assert calibrated(0.99, 0.9) > 0.5 and abs(calibrated(0.9, 0.9) - 0.5) < 1e-9
    # an unbiased model (0.5 for any request) keeps its own probability
    assert abs(calibrated(0.3, 0.5) - 0.3) < 1e-9
    # a bias of exactly 0 or 1 does not divide by zero
    assert 0.0 <= calibrated(0.5, 1.0) <= 1.0 and 0.0 <= calibrated(0.5, 0.0) <= 1.0


def test_the_check_shows_in_the_cli_trace_and_in_opentelemetry(demo_tools: list) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from heron.cli.render import render_event
    from heron.otel import OTelExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    llm = ScriptedLLM([call("add", a=1, b=2), *UNFIT, *UNFIT, answer("Eight.")])
    with _agent(llm, demo_tools) as agent:
        agent.callbacks.append(OTelExporter(provider))
        result = agent.run("How many legs does a spider have?")
    check, _ = [e for e in read_trace(result.trace_path) if e.type == "tool_check"]
    line = render_event(check)
    assert "add does not fit the request" in line
    assert "0.70, 0.90 for any request" in line
    (run,) = [s for s in memory.get_finished_spans() if s.name == "heron.run"]
    event, _ = [e for e in run.events if e.name == "tool_check"]
    assert event.attributes["tool"] == "add" and event.attributes["kept"] is False


def test_a_first_turn_of_several_calls_goes_ahead_when_any_of_its_tools_fits(
    demo_tools: list, ledger: Path
) -> None:
    # a request that asks for two things fits neither tool whole; the turn runs if one of them fits
    batch = [call("delete_everything"), call("add", a=2, b=40)]
    llm = ScriptedLLM([batch, *UNFIT, *FIT, answer("42")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("Clear the ledger, and what is 2 + 40?")
    checks = [e for e in read_trace(result.trace_path) if e.type == "tool_check"]
    assert [(c.tool, c.kept) for c in checks] == [("delete_everything", False), ("add", True)]
    assert ledger.read_text() == "add 2 40\n" and result.answer == "42"


def test_a_first_turn_of_several_calls_none_of_whose_tools_fits_is_set_aside(
    demo_tools: list, ledger: Path
) -> None:
    batch = [call("add", a=1, b=2), call("add", a=3, b=4)]
    llm = ScriptedLLM([batch, *UNFIT, *UNFIT, answer("About 95 kcal.")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("How many calories does an apple have?")
    checks = [e for e in read_trace(result.trace_path) if e.type == "tool_check"]
    # one check for the tool of both calls, then the other tool's
    assert [(c.tool, c.kept) for c in checks] == [("add", False), ("delete_everything", False)]
    assert not ledger.exists() and result.answer == "About 95 kcal."


def test_after_a_call_is_set_aside_the_tools_judged_fit_are_offered_without_the_answer(
    demo_tools: list, ledger: Path
) -> None:
    """The default model, asked about its notes, first called python (or calculator); set aside and
    left to choose between the other tools and the answer, it answered from its own memory. It had
    chosen to act: the other tools are judged, and the turn offers those that fit, without the answer."""
    from heron.tools import tool

    @tool
    def notes(query: str) -> str:
        """Search the user's notes.

        Args:
            query: what to look for
        """
        return "little egret: wingspan 95 cm"

    add = demo_tools[0]
    script = [call("add", a=1, b=2), *UNFIT, *FIT, call("notes", query="egret")]
    llm = ScriptedLLM([*script, answer("95 cm")])
    with _agent(llm, [add, notes]) as agent:
        result = agent.run("What wingspan do my notes give for the little egret?")
    checks = [e for e in read_trace(result.trace_path) if e.type == "tool_check"]
    assert [(c.tool, c.kept) for c in checks] == [("add", False), ("notes", True)]  # notes asked once
    calls = [e.tool for e in read_trace(result.trace_path) if e.type == "tool_call"]
    assert calls == ["notes"] and not ledger.exists() and result.answer == "95 cm"
    assert _offered(llm.calls[7]) == ["notes"]  # no answer: the model had chosen to act
    assert "final_answer" in _offered(llm.calls[8])  # the next turn, after the result, as usual


def _offered(call: object) -> list[str]:
    """The actions a scripted call's grammar offered."""
    schema = call.schema  # type: ignore[attr-defined]
    alternatives = schema.get("anyOf", [schema])
    return sorted(str(alt["properties"]["action"].get("const", "")) for alt in alternatives)


def test_a_task_files_first_call_is_checked_only_when_the_task_asks(tmp_path: Path) -> None:
    # a task's tools are the ones its author chose for its goal: by default its first call goes ahead
    from heron.agents.runner import TaskRunner
    from heron.config import load_settings

    class SizedScriptedLLM(ScriptedLLM):
        parameter_count = 1_543_714_304  # as Qwen2.5-Coder-1.5B: an agent would check its first calls

    goal = "goal: Add 1 and 2 with the calculator.\ntools: [calculator]\n"
    plain, checked = tmp_path / "plain.yaml", tmp_path / "checked.yaml"
    plain.write_text(goal)
    checked.write_text(goal + "check_first_call: true\n")
    llm = SizedScriptedLLM([call("calculator", expression="1+2"), answer("3")])
    outcome = TaskRunner(load_settings(), llm).run(plain)
    assert outcome.status == "succeeded" and "score_options" not in [c.method for c in llm.calls]
    assert "3" in str(llm.calls[1].messages[-1].content)  # the calculator ran: its result is in view
    # asked to check, the scripted model judges the calculator unfit: the call is set aside, never made
    llm = SizedScriptedLLM([call("calculator", expression="1+2"), *UNFIT, answer("3")])
    outcome = TaskRunner(load_settings(), llm).run(checked)
    assert [c.method for c in llm.calls].count("score_options") == 4
    checks = [e for e in read_trace(Path(outcome.trace_path)) if e.type == "tool_check"]
    assert [(e.tool, e.kept) for e in checks] == [("calculator", False)]


def test_a_verdict_reached_with_fewer_content_free_requests_is_the_one_all_three_give() -> None:
    """The check stops asking content-free requests once their unasked P(Yes) (each between 0 and 1)
    could not move the mean across the request's own: over a grid of values, every early verdict is the
    verdict of all four questions, and a clear one takes fewer questions."""
    from itertools import product

    from heron.agents.policies.first_call_check import ToolFit

    grid = [0.0, 0.05, 0.3, 0.5, 0.62, 0.8, 0.9, 0.97, 1.0]
    asked_fewer = 0
    for yes, *free in product(grid, repeat=4):
        whole = ToolFit(yes=yes, free=tuple(free))
        assert whole.decided and whole.kept == (calibrated(yes, sum(free) / 3) >= 0.5)
        for count in (1, 2):
            early = ToolFit(yes=yes, free=tuple(free[:count]))
            if early.decided:
                asked_fewer += 1
                assert early.kept == whole.kept, (yes, free, count)
                assert (early.fits >= 0.5) == whole.kept  # the traced fit is on the verdict's side
    assert asked_fewer > 1000  # (a verdict that is never early would pass the loop above)
    clear = ToolFit(yes=0.99, free=(0.9,))
    assert clear.decided and clear.kept and round(clear.bias, 4) == 0.9667 and not clear.complete
    assert not ToolFit(yes=0.7, free=(0.9,)).decided and not ToolFit(yes=0.7, free=(0.9, 0.9)).decided
    assert ToolFit(yes=0.2, free=(0.9,)).decided  # below the lowest mean a first 0.9 allows (0.3)


def test_a_bias_bounded_by_fewer_content_free_requests_shows_as_a_bound(demo_tools: list) -> None:
    from heron.cli.render import render_event

    llm = ScriptedLLM([call("add", a=2, b=40), *FIT, answer("42")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("What is 2 + 40?")
    (check,) = [e for e in read_trace(result.trace_path) if e.type == "tool_check"]
    assert check.bias_asked == 1 and check.kept
    assert "P(yes) 0.99, at most 0.97 for any request: 0.77 or more" in render_event(check)


def test_a_later_request_asks_only_the_content_free_requests_its_own_verdict_still_needs(
    demo_tools: list, ledger: Path
) -> None:
    """The first request to add was clear after "N/A"; the second's verdict is open, so it asks the
    other two ("" and "[MASK]"), each once, in order, and is judged against the whole bias."""
    add = demo_tools[0]
    llm = ScriptedLLM([call("add", a=2, b=40), *FIT, answer("42")])
    llm.add(call("add", a=1, b=2), SAYS_LESS_YES, FREE, FREE, answer("About 95 kcal."))
    with _agent(llm, [add]) as agent:
        first = agent.run("What is 2 + 40?")
        second = agent.run("How many calories does an apple have?")
    asked = [c.messages[-1].content for c in llm.calls if c.method == "score_options"]
    assert len(asked) == 5
    assert "Request: N/A" in asked[0] and "What is 2 + 40?" in asked[1]
    assert "How many calories" in asked[2] and "Request: \n" in asked[3] and "Request: [MASK]" in asked[4]
    checks = [e for e in read_trace(second.trace_path) if e.type == "tool_check"]
    assert [(c.tool, c.kept, c.bias, c.bias_asked) for c in checks] == [("add", False, 0.9, 3)]
    assert (first.answer, second.answer) == ("42", "About 95 kcal.") and ledger.read_text() == "add 2 40\n"


class ScriptedResumingLLM(ScriptedLLM):
    """A scripted model that, like LocalLLM, decodes a turn under a grammar (``grammar_chat``) and goes
    on with a turn it began (``reply_start``): a scripted turn is played up to where ``stop_when``
    ends it, and a call with ``reply_start`` plays the rest of that same turn. ``turns``: the options
    of each ``grammar_chat`` call."""

    native_tool_format = None
    resumes_replies = True

    def __init__(self, replies: list, *, refuses_to_go_on: bool = False) -> None:
        super().__init__(replies)
        self.turns: list[GenerationOptions] = []
        self._whole = ""
        self.refuses_to_go_on = refuses_to_go_on  # as LocalLLM does with a text its grammar rejects

    def grammar_chat(self, messages: list, grammar: str, options: GenerationOptions) -> Completion:
        self.turns.append(options)
        # a prompt of 100 tokens, 40 of them cached; going on, the whole prompt is
        usage = Usage(prompt_tokens=100, cached_prompt_tokens=100 if options.reply_start else 40)
        if options.reply_start:
            if self.refuses_to_go_on:
                raise UsageError("the reply to go on from does not fit the grammar", "")
            assert self._whole.startswith(options.reply_start), (self._whole, options.reply_start)
            text = self._whole[len(options.reply_start) :]
        else:
            reply = self._next(self._record("chat", messages, options))
            lines = reply if isinstance(reply, list) else [reply]
            text = self._whole = "\n".join(json.dumps(line) for line in lines)
            ends = options.stop_when or (lambda _: False)
            text = next((text[:n] for n in range(1, len(text)) if ends(text[:n])), text)
        return Completion(text=text, usage=usage.model_copy(update={"completion_tokens": len(text)}))


def test_a_first_call_none_of_whose_tools_fits_ends_at_its_name(demo_tools: list, ledger: Path) -> None:
    """A local model is asked as soon as the first call names its tool: when no offered tool fits,
    the turn ends there, before its arguments are written (the default model had written an 848-token
    program for "Why is the sky blue?" before the check set it aside)."""
    llm = ScriptedResumingLLM([call("add", a=1, b=2), *UNFIT, *UNFIT, answer("About 95 kcal.")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("How many calories does an apple have?")
    assert result.answer == "About 95 kcal." and result.status == "succeeded" and not ledger.exists()
    turns = [e for e in read_trace(result.trace_path) if e.type == "model_turn"]
    assert turns[0].output == '{"action": "add"' and turns[0].completion_tokens == len(turns[0].output)
    # one decode for the first turn (no arguments written), then the answer alone (a JSON schema)
    assert [bool(t.reply_start) for t in llm.turns] == [False]
    assert [c.method for c in llm.calls if c.method != "score_options"] == ["chat", "structured_json"]
    checks = [e for e in read_trace(result.trace_path) if e.type == "tool_check"]
    assert [(c.tool, c.kept) for c in checks] == [("add", False), ("delete_everything", False)]


def test_a_first_call_whose_tool_fits_goes_on_from_its_name(demo_tools: list, ledger: Path) -> None:
    llm = ScriptedResumingLLM([call("add", a=2, b=40), *FIT, answer("42")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("What is 2 + 40?")
    assert result.answer == "42" and ledger.read_text() == "add 2 40\n"
    first, rest = llm.turns[:2]
    assert first.stop_when is not None and rest.reply_start == '{"action": "add"'
    turns = [e for e in read_trace(result.trace_path) if e.type == "model_turn"]
    whole = json.dumps(call("add", a=2, b=40))
    # the history and the trace hold the turn whole; its tokens are both decodes', its prompt counts once
    assert turns[0].output == whole and turns[0].completion_tokens == len(whole)
    assert (turns[0].prompt_tokens, turns[0].cached_prompt_tokens) == (100, 40)


def test_only_the_turns_the_check_judges_pause_at_the_name(demo_tools: list, ledger: Path) -> None:
    # a later turn (after a result) is not checked, so it is decoded in one call
    script = [call("add", a=1, b=2), *FIT, call("add", a=3, b=3), answer("6")]
    llm = ScriptedResumingLLM(script)
    with _agent(llm, demo_tools) as agent:
        agent.run("1+2, then 3+3")
    assert [bool(t.reply_start) for t in llm.turns] == [False, True, False, False]
    assert ledger.read_text() == "add 1 2\nadd 3 3\n"
    # a sampled first turn is decoded in one call (going on would draw other random numbers) and
    # judged after it, as before
    llm = ScriptedResumingLLM([call("add", a=2, b=40), *FIT, answer("42")])
    with _agent(llm, demo_tools, temperature=0.5) as agent:
        assert agent.run("What is 2 + 40?").answer == "42"
    assert [bool(t.reply_start) for t in llm.turns] == [False, False]
    assert llm.turns[0].stop_when is not None and not llm.turns[0].stop_when('{"action": "add"')


def test_a_turn_the_model_cannot_go_on_with_is_decoded_again_whole(demo_tools: list, ledger: Path) -> None:
    # another caller's decode came in between and the begun text no longer fits: one call, no pause
    script = [call("add", a=2, b=40), *FIT, call("add", a=2, b=40), answer("42")]
    llm = ScriptedResumingLLM(script, refuses_to_go_on=True)
    with _agent(llm, demo_tools) as agent:
        result = agent.run("What is 2 + 40?")
    assert result.answer == "42" and ledger.read_text() == "add 2 40\n"
    assert [bool(t.reply_start) for t in llm.turns][:3] == [False, True, False]


def test_a_first_call_goes_on_when_another_offered_tool_fits(demo_tools: list, ledger: Path) -> None:
    # the turn may go on to call the tool that fits too: it is written whole and reviewed as before
    # (here it calls only the unfit one, so the review sets it aside, and the fit tool is offered)
    delete = call("delete_everything", path="old_logs")
    llm = ScriptedResumingLLM([call("add", a=1, b=2), *UNFIT, *FIT, delete, answer("Deleted.")])
    with _agent(llm, demo_tools) as agent:
        result = agent.run("Delete the folder old_logs.")
    assert [bool(t.reply_start) for t in llm.turns[:3]] == [False, True, False]
    turns = [e for e in read_trace(result.trace_path) if e.type == "model_turn"]
    assert [t.output for t in turns[:2]] == [json.dumps(call("add", a=1, b=2)), json.dumps(delete)]
    assert result.answer == "Deleted."
