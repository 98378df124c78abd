"""Conversion both ways with LangChain tools keeps the argument schema and the behaviour."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from heron.errors import ModelRetry, ToolExecutionError
from heron.tools import Artifact, Risk, ToolContext, ToolResult, Toolset, tool
from heron.tools.langchain_interop import from_langchain, to_langchain


@tool
def convert(amount: float, unit: Literal["km", "mi"] = "km", precision: int = 2) -> ToolResult:
    """Convert a distance to metres.

    Args:
        amount: how many units
        unit: the unit of `amount`
        precision: decimals in the answer
    """
    metres = amount * (1000 if unit == "km" else 1609.344)
    return ToolResult(text=f"{metres:.{precision}f} m", artifacts=[Artifact(kind="citation", uri="si:metre")])


def test_heron_tool_round_trip_keeps_the_schema(ctx: ToolContext) -> None:
    lc_tool = to_langchain(convert, ctx)
    assert isinstance(lc_tool, StructuredTool)
    assert lc_tool.name == "convert" and lc_tool.description == convert.description
    back = from_langchain(lc_tool)
    assert back.json_schema() == convert.json_schema()
    assert back.json_schema()["properties"]["unit"]["description"] == "the unit of `amount`"
    assert back.invoke({"amount": 2, "unit": "km"}, ctx).text == "2000.00 m"


def test_langchain_side_sees_schema_results_and_artifacts(ctx: ToolContext) -> None:
    lc_tool = to_langchain(convert, ctx)
    openai = convert_to_openai_tool(lc_tool)["function"]
    assert openai["name"] == "convert"
    assert openai["parameters"]["properties"]["unit"]["enum"] == ["km", "mi"]
    assert openai["parameters"]["required"] == ["amount"]
    message = lc_tool.invoke(
        {"type": "tool_call", "name": "convert", "args": {"amount": 1, "unit": "mi"}, "id": "1"}
    )
    assert isinstance(message, ToolMessage)
    assert message.content == "1609.34 m"
    assert message.artifact == [Artifact(kind="citation", uri="si:metre")]
    assert asyncio.run(lc_tool.ainvoke({"amount": 1.5})) == "1500.00 m"


def test_bad_arguments_reach_a_langchain_agent_as_an_error_message(ctx: ToolContext) -> None:
    @tool
    def strict(word: str) -> str:
        """Refuses long words."""
        if len(word) > 3:
            raise ModelRetry("use a word of at most 3 letters")
        return word

    message = to_langchain(strict, ctx).invoke(
        {"type": "tool_call", "name": "strict", "args": {"word": "long"}, "id": "2"}
    )
    assert message.status == "error"
    assert message.content == "use a word of at most 3 letters"


def test_a_heron_tool_that_raises_reaches_a_langchain_agent_as_an_error_message(ctx: ToolContext) -> None:
    @tool
    def inventory(item: str) -> str:
        """Looks an item up."""
        raise RuntimeError(f"the inventory server is down (asked for {item})")

    message = to_langchain(inventory, ctx).invoke(
        {"type": "tool_call", "name": "inventory", "args": {"item": "pen"}, "id": "3"}
    )
    assert message.status == "error" and "the inventory server is down (asked for pen)" in message.content


class SearchArgs(BaseModel):
    query: str = Field(description="what to look for")
    limit: int = Field(3, ge=1, le=10, description="how many hits")


def _search(query: str, limit: int = 3) -> str:
    return ", ".join(f"{query}-{i}" for i in range(limit))


def test_langchain_structured_tool_round_trip_keeps_its_schema(ctx: ToolContext) -> None:
    original = StructuredTool.from_function(
        func=_search, name="search", description="Search the notes.", args_schema=SearchArgs
    )
    heron_tool = from_langchain(original)
    assert heron_tool.risk is Risk.HIGH  # unknown foreign tool: ask first
    assert heron_tool.json_schema()["properties"]["limit"]["maximum"] == 10
    assert heron_tool.invoke({"query": "bird", "limit": 2}, ctx).text == "bird-0, bird-1"
    with pytest.raises(ModelRetry, match="`limit`: Input should be less than or equal to 10"):
        heron_tool.invoke({"query": "bird", "limit": 50}, ctx)
    again = to_langchain(heron_tool, ctx)
    assert convert_to_openai_tool(again) == convert_to_openai_tool(original)
    assert asyncio.run(heron_tool.ainvoke({"query": "owl"}, ctx)).text == "owl-0, owl-1, owl-2"


def test_langchain_tool_with_a_json_schema_dict(ctx: ToolContext) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "city name"}},
        "required": ["city"],
    }
    original = StructuredTool.from_function(
        func=lambda city: f"sunny in {city}", name="weather", description="Weather now.", args_schema=schema
    )
    tools = Toolset.from_langchain([original], risk=Risk.LOW)
    assert tools["weather"].json_schema() == schema
    assert tools["weather"].risk is Risk.LOW
    assert tools.invoke("weather", {"city": "Oslo"}, ctx).text == "sunny in Oslo"
    with pytest.raises(ModelRetry, match="`city`: required argument is missing"):
        tools.invoke("weather", {}, ctx)
    [back] = tools.to_langchain(ctx)
    assert isinstance(back, BaseTool)
    assert back.args_schema == schema


def test_failing_langchain_tools_surface_as_heron_errors(ctx: ToolContext) -> None:
    def refuse(text: str) -> str:
        raise ToolException("cannot handle: " + text)

    def explode(text: str) -> str:
        raise ValueError("bad input: " + text)

    handled = StructuredTool.from_function(
        func=refuse, name="refuse", description="Fails.", handle_tool_error=True
    )
    result = from_langchain(handled).invoke({"text": "x"}, ctx)
    assert result.is_error and result.text == "cannot handle: x"

    crashing = StructuredTool.from_function(func=explode, name="explode", description="Crashes.")
    with pytest.raises(ToolExecutionError, match="tool `explode` failed: ValueError: bad input: y") as info:
        from_langchain(crashing).invoke({"text": "y"}, ctx)
    assert isinstance(info.value.__cause__, ValueError)
