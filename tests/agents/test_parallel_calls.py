"""Several tool calls in one turn, with the capable model: concurrency, batch approvals, a kill -9 in
the middle of a batch, sub-agents, and which turn format a model gets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from heron import Agent, tool
from heron.agents import AgentConfig
from heron.agents.actions import CallBatch
from heron.agents.approval import ApprovalRequest, ApprovalResult
from heron.agents.run_store import RunStore
from heron.agents.state import PlanStep
from heron.agents.turn_formats import GenericFormat, NativeFormat
from heron.bundled import bundled_gguf_path
from heron.errors import UsageError
from heron.llm import LocalLLM
from heron.models import resolve_model
from heron.tools import Risk
from heron.tracing import ModelTurnEvent, RunStartedEvent, ToolResultEvent, read_trace
from tests.conftest import CAPABLE_MODEL, MACHINE_MODELS_DIR

pytestmark = [pytest.mark.model, pytest.mark.capable]

HERON = shutil.which("heron", path=str(Path(sys.executable).parent))
WEATHER = {"Paris": "18 C, sunny", "Oslo": "4 C, rain"}
QUESTION = "What is the weather in Paris and in Oslo right now?"


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM(resolve_model(CAPABLE_MODEL, MACHINE_MODELS_DIR), context_size=4096) as model:
        yield model


def weather_tool(risk: Risk = Risk.LOW, ran: list[float] | None = None):  # type: ignore[no-untyped-def]
    @tool(concurrent=True, risk=risk)
    def get_weather(city: str) -> str:
        """Current weather in a city.

        Args:
            city: the city's name
        """
        if ran is not None:
            ran.append(time.time())
        time.sleep(1.0)
        return WEATHER.get(city, "unknown city")

    return get_weather


def test_two_independent_look_ups_are_one_turn_of_two_concurrent_calls(llm: LocalLLM) -> None:
    with Agent(llm, tools=[weather_tool()]) as agent:
        result = agent.run(QUESTION)
    events = read_trace(result.trace_path)
    first_turn = next(e for e in events if isinstance(e, ModelTurnEvent))
    assert first_turn.output.count('"get_weather"') == 2  # both calls written in the first turn
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert sorted(r.text for r in results) == sorted(WEATHER.values())
    (a_start, a_end), (b_start, b_end) = [(r.time - r.seconds, r.time) for r in results]
    assert a_start < b_end and b_start < a_end  # the two calls ran at the same time
    assert result.status == "succeeded"
    assert "18" in result.answer and "4" in result.answer  # both results in the answer


@tool
def convert_currency(amount: float, to: str) -> str:
    """Convert an amount in euros (EUR) into another currency: USD, JPY, GBP or CHF."""
    rates = {"USD": 1.08, "JPY": 162.5, "GBP": 0.85, "CHF": 0.94}
    return f"{amount} EUR = {amount * rates[to.upper()]:.2f} {to.upper()}"


def test_a_call_that_uses_what_the_turns_other_calls_return_waits_for_their_results_and_none_repeats(
    llm: LocalLLM, tmp_path: Path
) -> None:
    from heron.agents.approval import approve_all
    from heron.tools.builtin import write_file

    request = (
        "Convert 250 euros to US dollars and to Japanese yen, write the two results to conversions.md, "
        "and answer with both amounts."
    )
    with Agent(llm, tools=[convert_currency, write_file], approve=approve_all, workspace=tmp_path) as agent:
        result = agent.run(request)
    turns = [e.output for e in read_trace(result.trace_path) if isinstance(e, ModelTurnEvent)]
    # the two conversions share the first turn; the file, composed from their results, comes after them
    assert turns[0].count('"convert_currency"') == 2 and "write_file" not in turns[0]
    written = (tmp_path / "conversions.md").read_text()
    assert "270.00" in written and "40625.00" in written
    writes = [i for i, turn in enumerate(turns) if turn.startswith('{"action": "write_file"')]
    assert writes and writes[0] > 0  # a turn of its own, after the results
    # having written the file, the model used to copy the conversions into its next turns, add two
    # nobody asked for, and end repeated_call with an answer about those; a call the run already
    # made now ends the turn before it, and the model answers with the two amounts
    events = read_trace(result.trace_path)
    made = [(e.tool, json.dumps(e.arguments, sort_keys=True)) for e in events if e.type == "tool_call"]
    assert len(made) == len(set(made))  # no call made twice
    assert result.status == "succeeded" and "270" in result.answer and "40625" in result.answer


class RecordingApprover:
    """Approves everything, asked once per batch; records when it was asked."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[str]]] = []

    def __call__(self, request: ApprovalRequest) -> ApprovalResult:
        self.batches.append((time.time(), [request.arguments.get("city", "")]))
        return ApprovalResult.approve(request.arguments)

    def approve_batch(self, requests: Sequence[ApprovalRequest]) -> list[ApprovalResult]:
        self.batches.append((time.time(), [r.arguments.get("city", "") for r in requests]))
        return [ApprovalResult.approve(r.arguments) for r in requests]


def test_a_batch_of_risky_calls_is_approved_together_before_any_of_it_runs(llm: LocalLLM) -> None:
    ran: list[float] = []
    approver = RecordingApprover()
    with Agent(llm, tools=[weather_tool(Risk.HIGH, ran)], approve=approver) as agent:
        action = agent.decide(QUESTION)
        assert isinstance(action, CallBatch)  # the model writes both calls in one turn
        result = agent.run(QUESTION)
    assert len(approver.batches) == 1  # one question for the whole batch
    asked_at, cities = approver.batches[0]
    assert sorted(cities) == ["Oslo", "Paris"]
    assert len(ran) == 2 and asked_at < min(ran)  # nothing ran before the answer
    assert result.status == "succeeded"


LEDGER_MODULE = '''
import json
import os
import time
from pathlib import Path

from heron import ToolContext, tool


@tool
def record(entry: str, ctx: ToolContext) -> str:
    """Append an entry to the ledger file (ledger.txt in the workspace): one call per entry.

    Args:
        entry: the entry to record
    """
    ledger = ctx.workspace / "ledger.txt"
    earlier = ledger.read_text().splitlines() if ledger.exists() else []
    if earlier and (ctx.workspace / "slow").exists():
        time.sleep(60)  # the second call of the batch takes long: the test kills the run here
    with ledger.open("a") as fh:
        fh.write(entry + "\\n")
    return f"recorded {entry!r}"
'''

TASK = """
name: two-entries
goal: Record the entries alpha and beta in the ledger.
tools: ['ledger_tools:record']
budget: {max_steps: 6}
workspace: ws
"""


def test_kill_in_the_middle_of_a_batch_then_resume_repeats_no_finished_call(tmp_path: Path) -> None:
    folder = tmp_path / "task"
    (folder / "ws").mkdir(parents=True)
    (folder / "ledger_tools.py").write_text(LEDGER_MODULE)
    (folder / "task.yaml").write_text(TASK)
    (folder / "ws" / "slow").write_text("")
    data_dir = tmp_path / "data"
    env = {**os.environ, "HERON_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [HERON, "run", str(folder / "task.yaml"), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ledger = folder / "ws" / "ledger.txt"
    run_id = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if ledger.exists() and ledger.read_text().strip() and (data_dir / "runs.sqlite3").exists():
            with RunStore.in_data_dir(data_dir) as store:
                run_id = store.list_runs()[0].id
                state = store.latest_state(run_id)
            if state is not None and any(p.message for p in state.pending_calls):
                process.send_signal(signal.SIGKILL)  # the first call finished, the second is running
                break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-2000:] if process.stderr else ""
    assert run_id is not None
    entries = [p.arguments["entry"] for p in state.pending_calls]
    assert len(entries) >= 2 and {"alpha", "beta"} <= set(entries)  # one turn, the calls in a batch
    finished = ledger.read_text().splitlines()
    assert finished == entries[:1]

    (folder / "ws" / "slow").unlink()
    resumed = subprocess.run(
        [HERON, "resume", run_id, "--json"], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    # the finished call was not made again; the others were, once each, in the batch's order
    assert ledger.read_text().splitlines() == entries


def test_a_parent_agent_delegates_to_a_sub_agent_and_the_trace_nests_it(llm: LocalLLM) -> None:
    with (
        Agent(llm, tools=[weather_tool()]) as forecaster,
        Agent(
            llm,
            tools=[forecaster.as_tool("forecaster", "Answers any question about the weather.")],
            config=AgentConfig(parallel_calls=1),
        ) as parent,
    ):
        result = parent.run("What is the weather in Oslo right now?")
    events = read_trace(result.trace_path)
    starts = [e for e in events if isinstance(e, RunStartedEvent)]
    assert [s.parent_run_id for s in starts] == [None, result.run_id]  # the sub-run, under the parent
    sub_run = starts[1].run_id
    assert any(
        isinstance(e, ToolResultEvent) and e.run_id == sub_run and e.tool == "get_weather" for e in events
    )
    assert any(
        isinstance(e, ToolResultEvent) and e.run_id == result.run_id and e.tool == "forecaster"
        for e in events
    )
    assert "4" in result.answer and result.status == "succeeded"


def test_the_capable_model_gets_the_generic_format_and_a_template_without_tools_too(llm: LocalLLM) -> None:
    # Qwen2.5-Coder's template declares hermes <tool_call> blocks, but the model writes a fenced
    # JSON block instead: "auto" sees that and keeps the generic format; named, hermes is used
    with Agent(llm, tools=[weather_tool()]) as agent:
        assert llm.native_tool_format is not None and llm.native_tool_format.name == "hermes"
        assert isinstance(agent.turn_format(), GenericFormat)
    with Agent(llm, tools=[weather_tool()], config=AgentConfig(tool_format="hermes")) as agent:
        fmt = agent.turn_format()
        assert isinstance(fmt, NativeFormat) and fmt.name == "qwen/hermes, native"
        state = agent.new_state(QUESTION)
        assert "<tools>" in llm.render_prompt(state.messages, fmt.declarations)  # the template's tool list
    small = bundled_gguf_path()
    assert small is not None
    with LocalLLM(small, context_size=2048) as smollm, Agent(smollm, tools=[weather_tool()]) as agent:
        assert smollm.native_tool_format is None  # its template has no tools
        assert isinstance(agent.turn_format(), GenericFormat)
        with pytest.raises(UsageError, match="chat template renders tools"):
            agent.turn_format("hermes")  # named, a native format its template cannot show is refused


def test_whether_the_model_writes_its_own_syntax_is_asked_once_per_model_file(
    llm: LocalLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from heron.agents import turn_formats

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # platformdirs' cache folder on Linux
    asked: list[str] = []
    probe = turn_formats.speaks
    monkeypatch.setattr(
        turn_formats, "speaks", lambda model, syntax: asked.append(syntax.name) or probe(model, syntax)
    )
    turn_formats._spoken.pop(llm, None)  # as a fresh process would see it
    assert turn_formats.native_syntax(llm) is None and asked == ["hermes"]  # the model was asked
    path = turn_formats.speaks_cache_path()
    assert path.is_relative_to(tmp_path)
    [(key, answer)] = json.loads(path.read_text()).items()
    assert answer is False and key.endswith(llm.identity) and "hermes" in key
    turn_formats._spoken.pop(llm)
    assert turn_formats.native_syntax(llm) is None and asked == ["hermes"]  # remembered: not asked again
    path.write_text("{not json")  # a damaged cache is asked again and rewritten
    turn_formats._spoken.pop(llm)
    assert turn_formats.native_syntax(llm) is None and asked == ["hermes", "hermes"]
    assert list(json.loads(path.read_text()).values()) == [False]


WEATHER_MODULE = '''
from heron import tool


@tool
def get_weather(city: str) -> str:
    """Current weather in a city.

    Args:
        city: the city's name
    """
    return {"Oslo": "4 C, rain"}.get(city, "unknown city")
'''

DELEGATING_TASK = """
name: delegate
goal: Ask the forecaster what the weather in Oslo is, then tell me.
tools: [forecaster]
agents:
  - name: forecaster
    description: Answers any question about the weather.
    tools: ['weather_tools:get_weather']
    budget: {max_steps: 4}
budget: {max_steps: 4}
"""


def test_a_task_file_declares_a_sub_agent_and_heron_trace_shows_its_run(tmp_path: Path) -> None:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "weather_tools.py").write_text(WEATHER_MODULE)
    (folder / "task.yaml").write_text(DELEGATING_TASK)
    env = {**os.environ, "HERON_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [HERON, "run", str(folder / "task.yaml"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert "4" in outcome["answer"]
    shown = subprocess.run(
        [HERON, "trace", outcome["run_id"]], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    lines = shown.stdout.splitlines()
    assert any("call forecaster" in line and "│" not in line for line in lines)  # the main run's call
    assert any("call get_weather" in line and "│" in line for line in lines)  # the sub-run's, indented


def test_native_turns_keep_the_prompt_prefix_so_the_kv_cache_is_reused(llm: LocalLLM) -> None:
    # a plan step with a tool forces a call: under hermes' grammar it is a <tool_call> block
    config = AgentConfig(tool_format="hermes", step_notes=False)
    with Agent(llm, tools=[weather_tool()], config=config) as agent:
        step = PlanStep(do="Look up the weather in Oslo.", tool="get_weather", args={"city": "Oslo"})
        result = agent.run("What is the weather in Oslo?", plan=[step, "Answer the question."])
    turns = [e for e in read_trace(result.trace_path) if isinstance(e, ModelTurnEvent)]
    assert turns[0].output.startswith("<tool_call>\n{") and '"city": "Oslo"' in turns[0].output
    # the next turn's prompt starts with everything the first turn read (system prompt, the template's
    # tool list, the request): reused from the cache. (The call the model wrote is read again: the
    # tokens sampled under the grammar need not be the tokenizer's split of the same text.)
    assert turns[1].cached_prompt_tokens >= turns[0].prompt_tokens
    assert "4" in result.answer and "<tool_call>" not in result.answer
