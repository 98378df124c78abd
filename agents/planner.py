"""Planning: a structured plan (constrained output) made before a multi-step run, revised on failure."""

from __future__ import annotations

from collections.abc import Sequence

from heron.agents.listing import tool_listing
from heron.agents.state import PlanStep
from heron.agents.templates import render
from heron.llm.base import LLM
from heron.llm.types import GenerationOptions, Message
from heron.tools import Tool


def make_plan(
    llm: LLM,
    goal: str,
    tools: Sequence[Tool],
    max_steps: int,
    progress: Sequence[str] = (),
) -> list[PlanStep]:
    """Ask the model for the remaining steps of ``goal``; ``progress`` lists what earlier steps found."""
    prompt = render(
        "agent_plan",
        goal=goal,
        max_steps=max_steps,
        tools=[tool_listing(t) for t in tools],
        progress="\n".join(f"- {p}" for p in progress),
    )
    step_schema = {
        "type": "object",
        "properties": {
            "do": {"type": "string", "minLength": 3, "maxLength": 160},
            "tool": {"enum": [*(t.name for t in tools), None]},
        },
        "required": ["do", "tool"],
    }
    schema = {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "minItems": 1, "maxItems": max_steps, "items": step_schema}
        },
        "required": ["steps"],
    }
    value = llm.structured_json([Message.user(prompt)], schema, GenerationOptions(max_tokens=80 * max_steps))
    steps = [PlanStep(do=s["do"].strip(), tool=s["tool"]) for s in value["steps"] if s["do"].strip()]
    return steps or [PlanStep(do=goal)]
