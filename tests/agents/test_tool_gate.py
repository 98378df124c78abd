"""The tool gate (a turn policy) with the real MiniLM embedder: answer-only, call-required, or one
tool picked, as typed values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heron.agents.agent import Agent
from heron.agents.policies import ANSWER_ONLY, TOOLS_ONLY, Allowed
from heron.agents.policies.tool_gate import GateThresholds, ToolGate, intent_text, tool_text
from heron.config import load_settings
from heron.llm import ScriptedLLM
from heron.memory.embeddings import Embedder
from heron.tools import tool


@tool
def get_weather(city: str) -> str:
    """Get the current weather forecast (temperature, rain, wind) for a city.

    Args:
        city: the city name
    """
    return f"sunny in {city}"


@tool
def convert_currency(amount: float, source: str, target: str) -> float:
    """Convert an amount of money from one currency to another at today's exchange rate.

    Args:
        amount: how much money
        source: currency code to convert from, e.g. USD
        target: currency code to convert to, e.g. EUR
    """
    return amount * 0.9


@tool
def weather_report(city: str) -> str:
    """Get the current weather forecast (temperature, rain, wind) for a town.

    Args:
        city: the town name
    """
    return f"sunny in {city}"


TOOLS = [get_weather, convert_currency]


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    yield Embedder.from_settings(load_settings())


@tool
def translate(text: str, source_language: str, target_language: str) -> str:
    """Translate text from a specified source language to a specified target language.

    Args:
        text: the text to translate
        source_language: the language it is in
        target_language: the language to translate it to
    """
    return text


def router(embedder: Embedder, margin: float | None = 0.05) -> ToolGate:
    defaults = GateThresholds()  # the thresholds heron ships
    return ToolGate(embedder, GateThresholds(defaults.answer_below, defaults.call_above, margin))


def only(name: str) -> Allowed:
    return Allowed(answer=False, tools=frozenset({name}))


@pytest.mark.parametrize(
    ("request_text", "masked"),
    [
        ("Convert 200 Euros to Canadian dollars.", "Convert N X to X dollars."),
        ("When was the signing of the Treaty of Lisbon?", "When was the signing of the X?"),
        ("Rate the review 'I love it! It's fresh.' please", "Rate the review something please"),
        ("Price of Van Gogh's painting 'Starry Night'?", "Price of X painting something?"),
        ("Who is it? Bob knows.", "Who is it? Bob knows."),  # a sentence's first word is no name
    ],
)
def test_intent_text_masks_names_numbers_and_quotes(request_text: str, masked: str) -> None:
    assert intent_text(request_text) == masked


def test_a_request_full_of_particulars_is_also_compared_by_its_intent(embedder: Embedder) -> None:
    request = "Translate Hello, how are you? from English to French."
    tools = [translate, get_weather]
    gate = router(embedder)
    tool_vector = gate.embedder.embed_documents([tool_text(translate)])[0]
    as_written = float(gate.embedder.embed_query(request) @ tool_vector)
    assert as_written < gate.thresholds.answer_below  # the greeting and languages drown the intent
    assert gate.choose(request, tools) == only("translate")


def test_a_request_no_tool_fits_is_answered_directly(embedder: Embedder) -> None:
    assert router(embedder).choose("Who wrote the novel Moby-Dick?", TOOLS) == ANSWER_ONLY


def test_a_request_one_tool_fits_picks_that_tool(embedder: Embedder) -> None:
    assert router(embedder).choose("What's the weather forecast for Lisbon today?", TOOLS) == only(
        "get_weather"
    )
    assert router(embedder).choose("Convert 250 US dollars to euros", TOOLS) == only("convert_currency")


def test_without_a_clear_leader_the_model_picks_among_the_tools(embedder: Embedder) -> None:
    similar = [get_weather, weather_report, convert_currency]
    gate = router(embedder)
    request = "What's the weather forecast for Lisbon today?"
    scores = gate.similarities(request, similar)
    ranked = sorted(zip(scores, (t.name for t in similar), strict=True), reverse=True)
    assert {ranked[0][1], ranked[1][1]} == {"get_weather", "weather_report"}
    lead = ranked[0][0] - ranked[1][0]
    assert gate.thresholds.pick_margin is not None
    # the two weather tools lead by about the margin, and the rule decides at this CPU's numerics
    expected = TOOLS_ONLY if lead < gate.thresholds.pick_margin else only(ranked[0][1])
    assert gate.choose(request, similar) == expected
    assert router(embedder, margin=None).choose("Convert 250 US dollars to euros", TOOLS) == TOOLS_ONLY


def test_the_agent_constrains_only_the_first_turn_to_the_picked_tool(embedder: Embedder) -> None:
    llm = ScriptedLLM(
        [
            {"action": "get_weather", "arguments": {"city": "Lisbon"}},
            {"action": "final_answer", "answer": "Sunny.", "citations": []},
        ]
    )
    with Agent(llm, tools=TOOLS, policies=[router(embedder)]) as agent:
        result = agent.run("What's the weather forecast for Lisbon today?")
    assert result.answer == "Sunny."
    first, second = llm.calls[0].schema, llm.calls[1].schema
    assert first["properties"]["action"]["const"] == "get_weather"  # one tool, no answer
    assert [
        alt["properties"]["action"]["const"] for alt in second["anyOf"] if alt.get("type") == "object"
    ] == [
        "get_weather",
        "convert_currency",
        "final_answer",
    ]


@pytest.mark.parametrize(
    "request_text",
    [
        "Translate this paragraph to French: the weather was lovely.",
        "Email the report to John Smith.",
        "What is the capital of Australia?",
    ],
)
def test_a_request_neither_tool_serves_is_never_forced_onto_a_tool(
    embedder: Embedder, request_text: str
) -> None:
    # negative cases: names, places and languages in a request do not make a weather or currency
    # tool fit; the gate may leave the choice to the model, but never forbids the answer
    choice = router(embedder).choose(request_text, TOOLS)
    assert choice is None or choice.answer


def test_the_gate_leaves_later_turns_and_plans_alone(embedder: Embedder) -> None:
    llm = ScriptedLLM(
        [
            {"action": "get_weather", "arguments": {"city": "Lisbon"}},
            {"action": "final_answer", "answer": "Sunny.", "citations": []},
        ]
    )
    with Agent(llm, tools=TOOLS, policies=[router(embedder)]) as agent:
        agent.run("Who wrote the novel Moby-Dick?", plan=["answer the question"])
    # a run with a plan is not gated: its first turn offers every tool (the plan step is free)
    first = llm.calls[0].schema
    assert [alt["properties"]["action"]["const"] for alt in first["anyOf"] if alt.get("type") == "object"][
        :2
    ] == [
        "get_weather",
        "convert_currency",
    ]
