"""Structured output from the real bundled model: 20 schemas, each reply parses and validates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field, RootModel

from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message
from heron.llm.schema import grammar_for

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM.from_settings(load_settings(context_size=1024)) as model:
        yield model


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class City(BaseModel):
    name: str
    country: str


class Person(BaseModel):
    name: str = Field(max_length=40)  # bounded: unbounded, the 135M can run on in a name to the limit
    age: int


class Flag(BaseModel):
    done: bool


class Price(BaseModel):
    item: str
    euros: float


class Paint(BaseModel):
    colour: Colour


class Mood(BaseModel):
    mood: Literal["happy", "sad", "neutral"]


class Tags(BaseModel):
    tags: list[str] = Field(max_length=4)


class Scores(BaseModel):
    scores: list[int] = Field(min_length=1, max_length=5)


class Address(BaseModel):
    street: str
    city: str


class Customer(BaseModel):
    name: str
    address: Address


class Team(BaseModel):
    team: str = Field(max_length=40)
    members: list[Person] = Field(max_length=3)


class Note(BaseModel):
    title: str = Field(max_length=40)
    body: str | None = Field(None, max_length=80)  # a 135M model rambles: bound free text


class Event(BaseModel):
    name: str
    day: date


class Point(BaseModel):
    x: float
    y: float


class Polygon(BaseModel):
    points: list[Point] = Field(min_length=3, max_length=4)


class Search(BaseModel):
    tool: Literal["search"]
    query: str


class Calculator(BaseModel):
    tool: Literal["calculator"]
    expression: str


class FinalAnswer(BaseModel):
    tool: Literal["final_answer"]
    answer: str


class AgentStep(RootModel[Annotated[Search | Calculator | FinalAnswer, Field(discriminator="tool")]]):
    """One step of an agent: a tool call or the final answer."""


class Shape(BaseModel):
    shape: Point | Polygon


class Inventory(BaseModel):
    counts: dict[str, int] = Field(max_length=3)


class Matrix(BaseModel):
    rows: list[list[int]] = Field(max_length=2)


class Short(BaseModel):
    code: str = Field(min_length=2, max_length=3)


class Config(BaseModel):
    name: str = Field(max_length=20)
    debug: bool
    level: Literal[1, 2, 3]
    owner: Person | None = None


SCHEMAS: list[tuple[Any, str]] = [
    (City, "Give the capital of France as JSON with name and country."),
    (Person, "Describe a 30 year old man called Tom as JSON."),
    (Flag, "Is the task done? Answer as JSON with the field done."),
    (Price, "A coffee costs 2.5 euros. Reply as JSON."),
    (Paint, "What colour is the sky? Reply as JSON."),
    (Mood, "I just won a prize! What is my mood? Reply as JSON."),
    (Tags, "Give three tags for a post about cooking pasta, as JSON."),
    (Scores, "List the scores 3, 5 and 8 as JSON."),
    (Customer, "Customer Ann lives at 1 Main Street in Paris. Reply as JSON."),
    (Team, "Team Blue has Tom (30) and Ann (25). Reply as JSON."),
    (Note, "Write a note titled Shopping. Reply as JSON."),
    (Event, "The concert is on 2024-05-17. Reply as JSON with name and day."),
    (Polygon, "Give a triangle with points (0,0), (1,0), (0,1) as JSON."),
    (AgentStep, "You can call search, calculator or final_answer. What is 2+2? Reply as JSON."),
    (Shape, "Give the point (1, 2) as JSON."),
    (Inventory, "We have 3 apples and 2 pears. Reply as JSON."),
    (Matrix, "Write the 2x2 identity matrix as JSON."),
    (Short, "Give the two-letter country code of France as JSON."),
    (Config, "Configure app demo with debug on and level 2, as JSON."),
    (
        {
            "type": "object",
            "properties": {
                "answer": {"type": "string", "enum": ["yes", "no"]},
                "confidence": {"type": "number"},
                "reasons": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            },
            "required": ["answer", "confidence", "reasons"],
        },
        "Is water wet? Reply as JSON.",
    ),
]


@pytest.mark.parametrize(
    ("schema", "question"), SCHEMAS, ids=[getattr(s, "__name__", "json") for s, _ in SCHEMAS]
)
def test_structured_output_validates(llm: LocalLLM, schema: Any, question: str) -> None:
    messages = [Message.system("You answer only with JSON."), Message.user(question)]
    options = GenerationOptions(max_tokens=200)
    if isinstance(schema, dict):
        value = llm.structured_json(messages, schema, options)
        assert value["answer"] in ("yes", "no")
        assert isinstance(value["confidence"], int | float)
        assert isinstance(value["reasons"], list) and len(value["reasons"]) <= 2
    else:
        value = llm.structured(messages, schema, options)
        assert isinstance(value, schema)
        # the instance round-trips through its own validation
        assert schema.model_validate_json(value.model_dump_json()) == value


def test_twenty_distinct_schemas() -> None:
    assert len({grammar_for(schema) for schema, _ in SCHEMAS}) == 20


def test_union_reply_is_one_of_the_members(llm: LocalLLM) -> None:
    step = llm.structured(
        [Message.user("Call the calculator tool for 6*7. Reply as JSON.")],
        AgentStep,
        GenerationOptions(max_tokens=120),
    )
    assert isinstance(step.root, Search | Calculator | FinalAnswer)


class ShortSearch(BaseModel):
    tool: Literal["search"]
    query: str = Field(max_length=80)  # bounded: the 135M may ramble until max_tokens otherwise


class ShortAnswer(BaseModel):
    tool: Literal["final_answer"]
    answer: str = Field(max_length=80)


def test_bare_union_type_is_accepted(llm: LocalLLM) -> None:
    union = Annotated[ShortSearch | ShortAnswer, Field(discriminator="tool")]
    value = llm.structured(
        [Message.user("Search the web for herons. Reply as JSON.")],
        union,  # type: ignore[arg-type]
        GenerationOptions(max_tokens=400),
    )
    assert isinstance(value, ShortSearch | ShortAnswer)


def test_grammar_keeps_the_declared_property_order(llm: LocalLLM) -> None:
    value = llm.structured_json(
        [Message.user("Reply as JSON.")],
        {
            "type": "object",
            "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "boolean"}},
            "required": ["zeta", "alpha"],
        },
        GenerationOptions(max_tokens=60),
    )
    assert list(value) == ["zeta", "alpha"]


def test_strings_never_hold_raw_control_characters() -> None:
    # JSON forbids raw newlines in strings; the grammar must not let the model write one.
    assert '[^"\\\\\\x7F\\x00-\\x1F]' in grammar_for(Note)


class Setting(BaseModel):
    key: str = Field(max_length=20)
    value: Any  # any JSON value: pydantic's schema for it has no type at all


def test_a_field_typed_any_admits_any_json_value(llm: LocalLLM) -> None:
    untyped = {"type": "object", "properties": {"data": {"description": "anything"}}, "required": ["data"]}
    assert "boolean" in grammar_for(untyped)  # a shapeless sub-schema became "any JSON value"
    value = llm.structured(
        [Message.user("Give a setting named retries with the value 3. Reply as JSON.")],
        Setting,
        GenerationOptions(max_tokens=60),
    )
    assert isinstance(value, Setting) and len(value.key) <= 20
