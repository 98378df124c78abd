"""OpenTelemetry export: a scripted run becomes one run span with a child per model turn and tool call."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from heron.agents.agent import Agent
from heron.agents.approval import deny_all
from heron.errors import UsageError
from heron.llm import ScriptedLLM
from heron.otel import OTelExporter
from heron.tools import Risk, tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first
        b: second
    """
    return a + b


@tool(risk=Risk.HIGH)
def wipe(path: str) -> str:
    """Delete a folder.

    Args:
        path: folder to delete
    """
    raise AssertionError("a denied tool must not run")


@pytest.fixture
def exported() -> tuple[OTelExporter, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return OTelExporter(provider), memory


def test_a_run_is_a_span_with_turns_and_tool_calls_as_children(exported: tuple) -> None:
    exporter, memory = exported
    llm = ScriptedLLM(
        [
            {"action": "add", "arguments": {"a": 2, "b": 40}},
            {"action": "wipe", "arguments": {"path": "/"}},
            {"action": "final_answer", "answer": "42", "citations": []},
        ]
    )
    with Agent(llm, tools=[add, wipe], approve=deny_all, callbacks=[exporter]) as agent:
        result = agent.run("What is 2 + 40?")
    spans = {s.name: s for s in memory.get_finished_spans()}
    run = spans["heron.run"]
    assert run.attributes["heron.run_id"] == result.run_id
    assert run.attributes["heron.goal"] == "What is 2 + 40?" and run.attributes["heron.answer"] == "42"
    assert run.attributes["heron.status"] == "succeeded" and run.parent is None
    turns = [s for s in memory.get_finished_spans() if s.name == "chat"]
    assert len(turns) == 3
    add_span, wipe_span = spans["execute_tool add"], spans["execute_tool wipe"]
    for child in [*turns, add_span, wipe_span]:
        assert child.parent.span_id == run.context.span_id
        assert child.context.trace_id == run.context.trace_id
        assert run.start_time <= child.start_time <= child.end_time <= run.end_time
    assert json.loads(add_span.attributes["heron.arguments"]) == {"a": 2, "b": 40}
    assert add_span.attributes["heron.result"] == "42" and add_span.status.status_code != StatusCode.ERROR
    assert wipe_span.status.status_code == StatusCode.ERROR
    assert [e.attributes["decision"] for e in wipe_span.events] == ["denied"]
    assert sum(t.attributes["gen_ai.usage.output_tokens"] for t in turns) == result.usage.completion_tokens


def test_a_failed_run_ends_its_span_as_an_error(exported: tuple) -> None:
    exporter, memory = exported
    llm = ScriptedLLM([])  # the script runs dry: the model "fails" on its first turn
    with Agent(llm, tools=[add], callbacks=[exporter]) as agent, pytest.raises(UsageError):
        agent.run("What is 2 + 40?")
    [run] = [s for s in memory.get_finished_spans() if s.name == "heron.run"]
    assert run.status.status_code == StatusCode.ERROR and run.attributes["heron.status"] == "error"


def test_heron_otel_setting_adds_the_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)  # the "application's" provider
    monkeypatch.setenv("HERON_OTEL", "true")
    llm = ScriptedLLM([{"action": "final_answer", "answer": "hi", "citations": []}])
    with Agent(llm) as agent:
        agent.run("hello")
    assert [s.name for s in memory.get_finished_spans()] == ["chat", "heron.run"]


def test_a_sub_agents_run_is_a_child_of_the_tool_call_that_started_it(exported: tuple) -> None:
    exporter, memory = exported
    sub_llm = ScriptedLLM(
        [
            {"action": "add", "arguments": {"a": 2, "b": 40}},
            {"action": "final_answer", "answer": "42", "citations": []},
        ]
    )
    llm = ScriptedLLM(
        [
            {"action": "arithmetic", "arguments": {"task": "add 2 and 40"}},
            {"action": "final_answer", "answer": "It is 42.", "citations": []},
        ]
    )
    # the sub-agent exports spans of its own too: nested, it leaves its run to the caller's exporter
    with (
        Agent(sub_llm, tools=[add], callbacks=[exporter]) as sub,
        Agent(llm, tools=[sub.as_tool("arithmetic", "Does arithmetic.")], callbacks=[exporter]) as agent,
    ):
        result = agent.run("What is 2 + 40?")
    runs = [s for s in memory.get_finished_spans() if s.name == "heron.run"]
    assert len(runs) == 2  # one span per run: the sub-run is not exported twice
    parent = next(s for s in runs if s.attributes["heron.run_id"] == result.run_id)
    child = next(s for s in runs if s is not parent)
    call = next(s for s in memory.get_finished_spans() if s.name == "execute_tool arithmetic")
    assert child.parent.span_id == call.context.span_id and call.parent.span_id == parent.context.span_id
    assert child.attributes["heron.parent_run_id"] == result.run_id
    add_span = next(s for s in memory.get_finished_spans() if s.name == "execute_tool add")
    assert add_span.parent.span_id == child.context.span_id
    assert result.answer == "It is 42."
