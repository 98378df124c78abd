"""The tool gate with the real MiniLM embedder: answer-only, call-required, or one tool picked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heron.agents.agent import Agent
from heron.agents.config import AgentConfig
from heron.agents.router import RouterThresholds, ToolRouter
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


def router(embedder: Embedder, margin: float | None = 0.05) -> ToolRouter:
    return ToolRouter(embedder, RouterThresholds(0.40, 0.40, margin))


def test_a_request_no_tool_fits_is_answered_directly(embedder: Embedder) -> None:
    assert router(embedder).choose("Who wrote the novel Moby-Dick?", TOOLS) == "none"


def test_a_request_one_tool_fits_picks_that_tool(embedder: Embedder) -> None:
    assert router(embedder).choose("What's the weather forecast for Lisbon today?", TOOLS) == "get_weather"
    assert router(embedder).choose("Convert 250 US dollars to euros", TOOLS) == "convert_currency"


def test_without_a_clear_leader_the_model_picks_among_the_tools(embedder: Embedder) -> None:
    similar = [get_weather, weather_report, convert_currency]
    assert router(embedder).choose("What's the weather forecast for Lisbon today?", similar) == "required"
    assert router(embedder, margin=None).choose("Convert 250 US dollars to euros", TOOLS) == "required"


def test_the_agent_constrains_only_the_first_turn_to_the_picked_tool(embedder: Embedder) -> None:
    llm = ScriptedLLM(
        [
            {"action": "get_weather", "arguments": {"city": "Lisbon"}},
            {"action": "final_answer", "answer": "Sunny.", "citations": []},
        ]
    )
    config = AgentConfig(tool_gate=True)
    with Agent(llm, tools=TOOLS, config=config, tool_router=router(embedder)) as agent:
        result = agent.run("What's the weather forecast for Lisbon today?")
    assert result.answer == "Sunny."
    first, second = llm.calls[0].schema, llm.calls[1].schema
    assert first["properties"]["action"]["const"] == "get_weather"  # one tool, no answer
    assert [alt["properties"]["action"]["const"] for alt in second["anyOf"]] == [
        "get_weather",
        "convert_currency",
        "final_answer",
    ]
