"""optional_arguments="mentioned": the grammar offers an optional argument only when the request names it."""

from __future__ import annotations

from typing import Any

import pytest

from heron.agents.agent import Agent
from heron.agents.config import AgentConfig
from heron.agents.mentions import (
    is_mentioned,
    is_place_argument,
    place_spans,
    takes_fraction,
    values_of,
    words,
)
from heron.llm import ScriptedLLM
from heron.tools import tool


def test_names_split_into_words() -> None:
    assert words("exploration_type") == ["exploration", "type"]
    assert words("panelArea") == ["panel", "area"]
    assert words("math.hypot") == ["math", "hypot"]


@pytest.mark.parametrize(
    ("name", "prop", "request_text", "required", "expected"),
    [
        ("method", {}, "area under the curve using the simpson method", (), True),
        ("root_type", {}, "Find all the roots of 3x^2 - 11x - 4", (), True),  # root / roots
        ("exploration_type", {}, "a trip to Tokyo, preferring to explore nature", (), True),
        ("unit", {"enum": ["cm", "inches"]}, "a circle with a radius of 4 inches", (), True),  # enum value
        ("unit", {}, "a circle with a radius of 4", (), False),
        ("file_type", {}, "what type of file is it?", (), True),  # "file", not the vague "type"
        ("data_type", {}, "what type is it?", (), False),  # only vague words
        ("speed_of_light", {}, "4 light years away", ("distance_in_light_years",), False),
        (
            "speed_of_light",
            {},
            "4 light years away at the speed of light",
            ("distance_in_light_years",),
            True,
        ),
        # a value the schema spells out: the items' enum, matched by one of the value's words
        (
            "add_ons",
            {"items": {"enum": ["Backstage Pass", "VIP Seating"]}},
            "with backstage access",
            (),
            True,
        ),
        ("add_ons", {"items": {"enum": ["Backstage Pass", "VIP Seating"]}}, "one ticket, please", (), False),
        # ... or an example quoted in its description
        (
            "period",
            {"description": "'now' for current, 'weekend' for the coming weekend"},
            "this weekend?",
            (),
            True,
        ),
        (
            "diet",
            {"description": "Special needs, e.g. vegan, gluten-free."},
            "Thai food, vegan menu",
            (),
            True,
        ),
        ("diet", {"description": "Special needs, e.g. vegan, gluten-free."}, "Thai food nearby", (), False),
    ],
)
def test_is_mentioned(
    name: str, prop: dict, request_text: str, required: tuple[str, ...], expected: bool
) -> None:
    assert is_mentioned(name, prop, request_text, required) is expected


def test_values_of_reads_enums_and_the_descriptions_examples() -> None:
    prop = {
        "items": {"enum": ["Seafood", "Thai"]},
        "description": "Cuisine, e.g. Seafood or Italian. Default 'any'. It's Bob's list",
    }
    assert values_of(prop) == ["Seafood", "Thai", "any", "Seafood", "Italian"]


@tool
def integrate(
    function: str, start_x: float, end_x: float, method: str = "trapezoid", precision: int = 6
) -> float:
    """Integrate a function between two points.

    Args:
        function: the function of x
        start_x: lower bound
        end_x: upper bound
        method: trapezoid or simpson
        precision: decimal places
    """
    return 0.0


def _first_turn_arguments(goal: str, mode: str) -> dict:
    llm = ScriptedLLM([{"action": "final_answer", "answer": "ok", "citations": []}])
    with Agent(llm, tools=[integrate], config=AgentConfig(optional_arguments=mode)) as agent:  # type: ignore[arg-type]
        agent.run(goal)
    [call_spec] = [
        a for a in llm.calls[0].schema["anyOf"] if a["properties"]["action"]["const"] == "integrate"
    ]
    return call_spec["properties"]["arguments"]["properties"]


@pytest.mark.parametrize(
    ("name", "prop", "fraction"),
    [
        ("rate", {"type": "number", "description": "The annual interest rate, as a decimal."}, True),
        ("rate_of_return", {"type": "number", "description": "The annual rate of return."}, True),
        (
            "trait_contributions",
            {
                "type": "array",
                "items": {"type": "number"},
                "description": "Percentage contributions; sum to 1.",
            },
            True,
        ),
        ("discount_percent", {"type": "number", "description": "Discount on the price."}, False),
        ("tax", {"type": "number", "description": "The tax percentage, e.g. 7.5."}, False),
        ("rate", {"type": "integer", "description": "Rate as a decimal."}, False),
        ("city", {"type": "string", "description": "A fraction of the text."}, False),
    ],
)
def test_takes_fraction(name: str, prop: dict[str, Any], fraction: bool) -> None:
    assert takes_fraction(name, prop) is fraction


@pytest.mark.parametrize(
    ("request_text", "places"),
    [
        ("Search for divorce law specialists in Los Angeles", ["Los Angeles"]),
        ("Find lawyers specializing in criminal law near me in New York.", ["New York"]),
        ("Directions from Boston, MA to Washington D.C. avoiding tolls", ["Boston, MA", "Washington D.C."]),
        ("What is the air quality index in London 2022/08/16?", ["London"]),
        ("Visit the Museum of Modern Art", []),  # capitalised, but after no preposition
        ("find a cafe in new york", []),  # nothing capitalised: the whole request stays the source
    ],
)
def test_place_spans(request_text: str, places: list[str]) -> None:
    assert place_spans(request_text) == places


def test_is_place_argument() -> None:
    assert is_place_argument("location", {"type": "string"})
    assert is_place_argument("end_city", {"type": "string"})
    assert not is_place_argument("location", {"type": "array"})
    assert not is_place_argument("cuisine", {"type": "string"})


def test_the_grammar_offers_the_optional_arguments_the_goal_names() -> None:
    goal = "Integrate x^3 from -2 to 3 with the simpson method"
    assert list(_first_turn_arguments(goal, "mentioned")) == ["function", "start_x", "end_x", "method"]
    assert list(_first_turn_arguments(goal, "omit")) == ["function", "start_x", "end_x"]
    assert list(_first_turn_arguments(goal, "offer")) == [
        "function",
        "start_x",
        "end_x",
        "method",
        "precision",
    ]
