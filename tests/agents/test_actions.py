from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from heron.agents.actions import (
    ActionSpec,
    FinalAction,
    ToolCallAction,
    action_schema,
    parse_action,
)


class Point(BaseModel):
    x: float
    y: float


class Shape(BaseModel):
    name: str
    corners: list[Point]


def test_union_of_tools_and_final_answer() -> None:
    specs = [
        ActionSpec(
            "calculator",
            "math",
            {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
        ),
        ActionSpec("draw", "draw a shape", Shape.model_json_schema()),
    ]
    schema = action_schema(specs, citable_ids=["doc1#0", "doc2#3"])
    names = [alt["properties"]["action"]["const"] for alt in schema["anyOf"]]
    assert names == ["calculator", "draw", "final_answer"]
    # the nested model moved to the root and the reference follows it
    assert "draw--Point" in schema["$defs"]
    assert "draw--Point" in json.dumps(schema["anyOf"][1])
    final = schema["anyOf"][2]["properties"]
    assert final["citations"]["items"]["enum"] == ["doc1#0", "doc2#3"]


def test_a_property_named_title_survives() -> None:
    spec = ActionSpec(
        "event",
        "e",
        {
            "type": "object",
            "title": "EventArgs",
            "properties": {"title": {"type": "string", "title": "Title"}},
            "required": ["title"],
        },
    )
    params = action_schema([spec], final=None)["properties"]["arguments"]
    assert params["properties"] == {"title": {"type": "string"}}
    assert "title" not in {k for k in params if k != "properties"}


def test_no_retrieval_means_no_citations_allowed() -> None:
    schema = action_schema([], citable_ids=[])
    assert schema["properties"]["citations"]["maxItems"] == 0


def test_tools_only_turn_and_thought_field_after_the_action() -> None:
    spec = ActionSpec("python", "run code", {"type": "object", "properties": {}}, think=True)
    schema = action_schema([spec], final=None, thought_chars=80)
    assert list(schema["properties"]) == ["action", "thought", "arguments"]
    with pytest.raises(ValueError):
        action_schema([], final=None)


def test_only_tools_that_think_get_a_thought() -> None:
    """The answer has no thought before it: the model wrote its answer's start into the thought, cut
    at the thought's bound, and went on mid-sentence in the answer ("the light to be dispersed...")."""
    plain = ActionSpec("calculator", "math", {"type": "object", "properties": {}})
    code = ActionSpec("python", "run code", {"type": "object", "properties": {}}, think=True)
    schema = action_schema([plain, code], thought_chars=80)
    fields = {alt["properties"]["action"]["const"]: list(alt["properties"]) for alt in schema["anyOf"]}
    assert fields == {
        "calculator": ["action", "arguments"],
        "python": ["action", "thought", "arguments"],
        "final_answer": ["action", "answer", "citations"],
    }
    assert all("thought" not in alt["properties"] for alt in action_schema([plain, code])["anyOf"])


def test_built_in_tools_that_compose_their_arguments_think() -> None:
    from heron.memory.tools import RetrieveTool
    from heron.tools import tool
    from heron.tools.builtin import calculator, python_tool, write_file

    assert python_tool.think and write_file.think
    assert not calculator.think and not RetrieveTool().think

    @tool(think=True)
    def draft(text: str) -> str:
        """Draft a letter.

        Args:
            text: the letter
        """
        return text

    assert draft.think


def test_built_in_tools_that_carry_data_allow_repeats_in_it() -> None:
    from heron.memory.tools import RetrieveTool
    from heron.tools.builtin import calculator, python_tool, write_file

    assert write_file.repeats_allowed == ("content",) and python_tool.repeats_allowed == ("code",)
    assert calculator.repeats_allowed == () and RetrieveTool().repeats_allowed == ()


def test_parse_action() -> None:
    call = parse_action({"action": "calculator", "arguments": {"expression": "1+2"}})
    assert call == ToolCallAction(tool="calculator", arguments={"expression": "1+2"})
    final = parse_action({"action": "final_answer", "answer": "3", "citations": ["d#1"]})
    assert isinstance(final, FinalAction) and final.citations == ["d#1"]
    with pytest.raises(ValueError):
        parse_action(["not", "a", "dict"])


def test_an_argument_typed_any_becomes_a_bounded_value() -> None:
    from typing import Any

    from heron.llm.schema import grammar_for

    class Store(BaseModel):
        key: str
        value: Any  # pydantic's schema for it has no type at all
        tags: list[Any]

    schema = action_schema(
        [ActionSpec("store", "keep a value", Store.model_json_schema())], argument_chars=40
    )
    arguments = schema["anyOf"][0]["properties"]["arguments"]["properties"]
    for any_value in (arguments["value"], arguments["tags"]["items"]):
        kinds = [alt["type"] for alt in any_value["anyOf"]]
        assert kinds == ["string", "number", "boolean", "null", "array"]  # no unbounded objects
        assert any_value["anyOf"][4]["maxItems"] == 16
    assert arguments["value"]["anyOf"][0]["maxLength"] == 40
    assert arguments["tags"]["items"]["anyOf"][0]["maxLength"] == 10  # a quarter inside a list
    assert arguments["key"] == {"type": "string", "maxLength": 40}
    grammar_for(schema)  # llama.cpp's converter accepts it


def test_the_answer_streams_after_a_thought_that_holds_quotes() -> None:
    from heron.agents.streaming import AnswerStream

    stream = AnswerStream()
    raw = (
        '{"action": "final_answer", "thought": "the note says \\"175 cm\\", ok", "answer": "Paris is big", "c'
    )
    streamed = "".join(stream.feed(raw[i : i + 3]) for i in range(0, len(raw), 3))
    assert streamed == "Paris is big"


def test_the_thought_field_is_on_by_default_only_for_models_that_can_use_it() -> None:
    from heron.agents.config import THOUGHT_CHARS, AgentConfig, thought_chars

    class Sized:
        def __init__(self, parameters: int | None) -> None:
            if parameters is not None:
                self.parameter_count = parameters

    assert thought_chars(AgentConfig(), Sized(1_543_714_304)) == THOUGHT_CHARS  # Qwen2.5-1.5B
    assert thought_chars(AgentConfig(), Sized(134_515_008)) == 0  # SmolLM2-135M
    assert thought_chars(AgentConfig(), Sized(None)) == THOUGHT_CHARS  # a server: size unknown
    assert thought_chars(AgentConfig(thought_chars=80), Sized(134_515_008)) == 80  # set: as set
    assert thought_chars(AgentConfig(thought_chars=0), Sized(1_543_714_304)) == 0
