"""@tool, Tool.invoke/ainvoke and class-based tools."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, Field

from heron.errors import ArgumentsRetry, ModelRetry, ToolDeclarationError, ToolExecutionError, UsageError
from heron.tools import LazyTool, Risk, Tool, ToolContext, ToolResult, tool


class Point(BaseModel):
    x: float
    y: float


@tool
def distance(a: Point, b: Point, metric: Literal["euclid", "manhattan"] = "euclid") -> float:
    """Distance between two points.

    Args:
        a: the first point
        b: the second point
        metric: how to measure; "manhattan" sums
            the axis differences
    """
    if metric == "manhattan":
        return abs(a.x - b.x) + abs(a.y - b.y)
    return float(((a.x - b.x) ** 2 + (a.y - b.y) ** 2) ** 0.5)


def test_tool_schema_comes_from_hints_and_docstring() -> None:
    schema = distance.json_schema()
    assert distance.name == "distance"
    assert distance.description == "Distance between two points."
    assert schema["required"] == ["a", "b"]
    assert schema["properties"]["metric"]["enum"] == ["euclid", "manhattan"]
    assert schema["properties"]["metric"]["default"] == "euclid"
    assert (
        schema["properties"]["metric"]["description"]
        == 'how to measure; "manhattan" sums the axis differences'
    )
    assert schema["properties"]["a"]["description"] == "the first point"
    assert schema["additionalProperties"] is False
    assert distance.risk is Risk.LOW


def test_invoke_validates_and_converts_nested_models(ctx: ToolContext) -> None:
    result = distance.invoke({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}}, ctx)
    assert result == ToolResult(text="5.0")
    assert (
        distance.invoke({"a": {"x": 0, "y": 0}, "b": {"x": 3, "y": 4}, "metric": "manhattan"}, ctx).text
        == "7.0"
    )


def test_invalid_arguments_raise_a_retry_naming_each_field(ctx: ToolContext) -> None:
    with pytest.raises(ModelRetry) as info:
        distance.invoke({"a": {"x": "far"}, "metric": "cosine", "colour": "red"}, ctx)
    message = str(info.value)
    assert "`a.x`" in message and "valid number" in message
    assert "`a.y`: required argument is missing" in message
    assert "`b`: required argument is missing" in message
    assert "`metric`" in message and "'cosine'" in message
    assert "`colour`: unknown argument" in message
    assert "Expected arguments: a (object, required), b (object, required), metric" in message


def test_arguments_that_are_not_an_object_are_refused_with_a_hint(ctx: ToolContext) -> None:
    with pytest.raises(ModelRetry, match="must be a JSON object, got str"):
        distance.invoke("a=1", ctx)  # type: ignore[arg-type]


def test_context_parameter_is_injected_and_hidden_from_the_schema(ctx: ToolContext) -> None:
    @tool(name="where", risk=Risk.HIGH)
    def workspace_of(label: str, context: ToolContext[dict[str, str]]) -> str:
        """Say where the workspace is."""
        return f"{label}:{context.deps['user']}:{context.workspace.name}"

    assert workspace_of.name == "where"
    assert workspace_of.risk is Risk.HIGH
    assert list(workspace_of.json_schema()["properties"]) == ["label"]
    with ToolContext(ctx.workspace, ctx.settings, deps={"user": "ada"}) as typed:
        assert workspace_of.invoke({"label": "here"}, typed).text == f"here:ada:{ctx.workspace.name}"


def test_missing_parameter_hint_is_refused_naming_the_parameter() -> None:
    with pytest.raises(ToolDeclarationError) as info:

        @tool
        def untyped(query, limit: int = 3) -> str:
            """Search."""
            return ""

    assert "parameter `query` of tool `untyped` has no type hint" in info.value.problem
    assert info.value.hint is not None and "query: str" in info.value.hint
    assert isinstance(info.value, UsageError)


def test_missing_return_hint_and_docstring_are_refused() -> None:
    with pytest.raises(ToolDeclarationError, match="no return type hint"):

        @tool
        def no_return(x: int):
            """Double."""
            return x * 2

    with pytest.raises(ToolDeclarationError, match="has no docstring") as info:

        @tool
        def no_doc(x: int) -> int:
            return x

    assert info.value.hint is not None and "Args:" in info.value.hint


def test_other_declaration_mistakes_are_refused() -> None:
    def variadic(*items: int) -> int:
        """Sum."""
        return sum(items)

    def documented_wrongly(query: str) -> str:
        """Search.

        Args:
            qeury: misspelt
        """
        return query

    with pytest.raises(ToolDeclarationError, match=r"takes \*items"):
        tool(variadic)
    with pytest.raises(ToolDeclarationError, match="does not take: qeury"):
        tool(documented_wrongly)
    with pytest.raises(ToolDeclarationError, match="not a valid tool name"):
        tool(name="two words")(documented_wrongly)


class _Opaque:
    """A class of the user's own, with no JSON schema."""


def test_a_parameter_type_the_model_cannot_send_as_json_is_refused_naming_it() -> None:
    with pytest.raises(
        ToolDeclarationError, match=r"parameter `thing` of tool `use` has the type _Opaque"
    ) as error:

        @tool
        def use(thing: _Opaque) -> str:
            """Uses a thing.

            Args:
                thing: the thing
            """
            return ""

    assert "JSON-like types" in error.value.hint


def test_arguments_where_repeats_are_allowed_must_be_the_tools_own() -> None:
    def save(name: str, text: str) -> str:
        """Save a note.

        Args:
            name: the note's name
            text: the note
        """
        return name

    assert tool(repeats_allowed=("text",))(save).repeats_allowed == ("text",)
    assert tool(save).repeats_allowed == ()
    with pytest.raises(ToolDeclarationError, match=r"names 'body', not among its arguments \(name, text\)"):
        tool(repeats_allowed=("body",))(save)

    class Notes(LazyTool, name="notes", repeats_allowed=("text",)):
        def run(self, text: str) -> str:
            """Keep a note.

            Args:
                text: the note
            """
            return text

    assert Notes().repeats_allowed == ("text",)


@pytest.mark.parametrize("reserved", ["final_answer", "step_done", "auto", "none", "required"])
def test_a_tool_named_like_the_agents_own_words_is_refused_at_declaration(reserved: str) -> None:
    def finish(text: str) -> str:
        """Finish."""
        return text

    with pytest.raises(ToolDeclarationError, match=f"cannot be named '{reserved}'") as raised:
        tool(name=reserved)(finish)
    assert "another name" in str(raised.value)
    with pytest.raises(ToolDeclarationError, match="cannot be named"):  # however the tool is built
        Tool(name=reserved, description="d", args_model=BaseModel, function=finish)
    assert tool(name=f"{reserved}_tool")(finish).name == f"{reserved}_tool"  # a longer name is fine
    # a tool built from a JSON schema keeps a name @tool would not take, like BFCL's dotted ones
    dotted = Tool(name="math.factorial", description="d", args_model=BaseModel, function=finish)
    assert dotted.name == "math.factorial"


def test_the_reserved_words_are_the_ones_the_agent_uses() -> None:
    from heron.agents.actions import FINAL_ANSWER, STEP_DONE
    from heron.agents.config import TOOL_CHOICE_MODES
    from heron.tools.base import RESERVED_TOOL_NAMES

    assert {FINAL_ANSWER, STEP_DONE, *TOOL_CHOICE_MODES} == RESERVED_TOOL_NAMES


def test_annotated_constraints_are_validated(ctx: ToolContext) -> None:
    @tool
    def repeat(word: str, times: Annotated[int, Field(ge=1, le=3)]) -> str:
        """Repeat a word."""
        return word * times

    assert repeat.json_schema()["properties"]["times"]["maximum"] == 3
    assert repeat.invoke({"word": "ab", "times": 2}, ctx).text == "abab"
    with pytest.raises(ModelRetry, match="`times`: Input should be less than or equal to 3"):
        repeat.invoke({"word": "ab", "times": 9}, ctx)


def test_exception_inside_a_tool_becomes_tool_execution_error_with_its_cause(ctx: ToolContext) -> None:
    @tool
    def broken(name: str) -> str:
        """Always fails."""
        raise KeyError(name)

    with pytest.raises(ToolExecutionError, match="tool `broken` failed: KeyError: 'x'") as info:
        broken.invoke({"name": "x"}, ctx)
    assert isinstance(info.value.__cause__, KeyError)


def test_model_retry_raised_by_a_tool_passes_through(ctx: ToolContext) -> None:
    @tool
    def picky(name: str) -> str:
        """Only accepts lower case."""
        if name != name.lower():
            raise ModelRetry("use lower case")
        return name

    with pytest.raises(ModelRetry, match="use lower case"):
        picky.invoke({"name": "Ada"}, ctx)


def test_return_values_become_text(ctx: ToolContext) -> None:
    @tool
    def data(kind: str) -> object:
        """Return data of a kind."""
        return {"list": [1, 2], "model": Point(x=1, y=2), "none": None}[kind]

    assert data.invoke({"kind": "list"}, ctx).text == "[1, 2]"
    assert data.invoke({"kind": "model"}, ctx).text == '{"x":1.0,"y":2.0}'
    assert data.invoke({"kind": "none"}, ctx).text == "(done, no output)"


def test_async_tool_runs_from_sync_and_async_callers(ctx: ToolContext) -> None:
    @tool
    async def slow_double(x: int) -> int:
        """Double, asynchronously."""
        await asyncio.sleep(0)
        return x * 2

    assert slow_double.is_async
    assert slow_double.invoke({"x": 4}, ctx).text == "8"
    assert asyncio.run(slow_double.ainvoke({"x": 5}, ctx)).text == "10"

    async def sync_call_inside_a_running_loop() -> str:
        return slow_double.invoke({"x": 6}, ctx).text

    assert asyncio.run(sync_call_inside_a_running_loop()) == "12"
    assert asyncio.run(distance.ainvoke({"a": {"x": 0, "y": 0}, "b": {"x": 0, "y": 2}}, ctx)).text == "2.0"


class Glossary(LazyTool, name="glossary"):
    """A class-based tool whose set-up counts its loads."""

    loads = 0

    def load(self) -> None:
        type(self).loads += 1
        self.terms = {"rag": "retrieval-augmented generation"}

    def unload(self) -> None:
        del self.terms

    def run(self, term: str) -> str:
        """Look up a term.

        Args:
            term: the word to define
        """
        return self.terms.get(term.lower(), "not in the glossary")


def test_class_based_tool_loads_lazily_once_and_closes_deterministically(ctx: ToolContext) -> None:
    Glossary.loads = 0
    with Glossary() as glossary:
        assert isinstance(glossary, Tool)
        assert glossary.name == "glossary"
        assert glossary.json_schema()["properties"]["term"]["description"] == "the word to define"
        assert Glossary.loads == 0 and not glossary.loaded
        assert glossary.invoke({"term": "RAG"}, ctx).text == "retrieval-augmented generation"
        assert glossary.invoke({"term": "llm"}, ctx).text == "not in the glossary"
        assert Glossary.loads == 1
    assert not glossary.loaded and not hasattr(glossary, "terms")
    assert glossary.invoke({"term": "rag"}, ctx).text == "retrieval-augmented generation"  # loads again
    assert Glossary.loads == 2
    glossary.close()


def test_class_based_tool_without_run_or_docstring_is_refused() -> None:
    class NoRun(LazyTool):
        pass

    class Undocumented(LazyTool):
        def run(self, term: str) -> str:
            return term

    with pytest.raises(ToolDeclarationError, match="NoRun has no `run` method"):
        NoRun()
    with pytest.raises(ToolDeclarationError, match="tool `undocumented` has no docstring"):
        Undocumented()


def test_arguments_are_converted_as_pydantic_s_lax_mode_does_and_wrong_ones_say_what_is_expected() -> None:
    """docs/sdk.md: a call from outside the grammar may give "3.5" for a float or "yes" for a bool;
    a value that cannot be converted is an invalid-arguments error naming the argument."""

    @tool
    def scaled(flag: bool, x: float) -> str:
        """Scale.

        Args:
            flag: whether to scale
            x: the number
        """
        return f"{flag} {x}"

    assert scaled.validate_args({"flag": "yes", "x": "3.5"}).model_dump() == {"flag": True, "x": 3.5}
    with pytest.raises(ArgumentsRetry, match=r"`x`: Input should be a valid number.*got 'abc'"):
        scaled.validate_args({"flag": True, "x": "abc"})
