"""Toolset: ordered, unique names, clear lookup errors, built-ins and their risk levels."""

from __future__ import annotations

import pytest

from heron.errors import ModelRetry, ToolDeclarationError
from heron.tools import Risk, ToolContext, Toolset, builtin_toolset, tool


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


def whisper(text: str) -> str:
    """Lower-case a text."""
    return text.lower()


def test_toolset_keeps_order_and_declares_plain_functions(ctx: ToolContext) -> None:
    tools = Toolset([shout, whisper])
    assert tools.names() == ["shout", "whisper"]
    assert [spec["name"] for spec in tools.specs()] == ["shout", "whisper"]
    assert tools.specs()[1]["parameters"]["required"] == ["text"]
    assert tools.invoke("whisper", {"text": "QUIET"}, ctx).text == "quiet"
    assert "shout" in tools and len(tools) == 2


def test_duplicate_names_are_refused() -> None:
    tools = Toolset([shout])
    with pytest.raises(ToolDeclarationError, match="a tool named `shout` is already in this toolset") as info:
        tools.add(tool(name="shout")(whisper))
    assert info.value.hint is not None and "another name" in info.value.hint
    assert tools.names() == ["shout"]


def test_unknown_tool_lists_the_known_ones(ctx: ToolContext) -> None:
    tools = Toolset([shout, whisper])
    with pytest.raises(ModelRetry, match=r"no tool named `yell`\. Known tools: shout, whisper"):
        tools.invoke("yell", {"text": "x"}, ctx)


def test_builtins_and_their_risk() -> None:
    tools = builtin_toolset()
    assert tools.names() == ["python", "calculator", "read_file", "write_file", "list_files"]
    high = [t.name for t in tools if t.risk is Risk.HIGH]
    assert high == ["python", "write_file"]
    assert tools.needs_approval("python") and not tools.needs_approval("read_file")
    for spec in tools.specs():
        assert "ctx" not in spec["parameters"]["properties"]
        assert spec["description"]


def test_a_tool_whose_args_model_allows_extra_fields_receives_them(ctx: ToolContext) -> None:
    # a tool wrapped from a JSON schema with an open args model (as BFCL's functions are) gets
    # every argument the model wrote, not only the declared fields
    from pydantic import BaseModel, ConfigDict

    from heron.tools import Tool

    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")

        unit: str = "cm"

    received: list[dict] = []

    def measure(**kwargs: object) -> str:
        received.append(kwargs)
        return "ok"

    schema = {"type": "object", "properties": {"length": {"type": "number"}, "unit": {"type": "string"}}}
    measured = Tool(name="measure", description="Measure.", args_model=Open, function=measure, schema=schema)
    assert measured.invoke({"length": 2.5}, ctx).text == "ok"
    assert received == [{"unit": "cm", "length": 2.5}]
