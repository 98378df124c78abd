"""What the model may do in one turn, as one JSON schema: call tools, or answer (heron's generic
format; models with a native tool-call syntax write it instead, see :mod:`heron.agents.turn_formats`).

The schema becomes a llama.cpp grammar, so the model's output always parses: it picks ``action``
first (a tool name or ``final_answer``), then fills that tool's arguments; several independent calls
are such objects one per line. Citations are limited to
the passage ids the run has actually retrieved, so an answer cannot cite a passage it never saw.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from heron.llm.schema import is_shapeless
from heron.llm.string_bounds import long_string_bounds

FINAL_ANSWER = "final_answer"
STEP_DONE = "step_done"
T = TypeVar("T")


@dataclass(frozen=True)
class ActionSpec:
    """A tool as the model sees it: name, description and the JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]
    think: bool = False  # a thought before the arguments (``Tool.think``: code, documents)
    repeats_allowed: tuple[str, ...] = ()  # arguments the repetition penalty leaves alone (``Tool``)


class ToolCallAction(BaseModel):
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    thought: str = ""
    cut: list[str] = Field(default_factory=list)  # string arguments the length bound cut off


class CallBatch(BaseModel):
    """Several tool calls written in one turn; they run as one batch (see ``ToolCaller.call_batch``)."""

    calls: list[ToolCallAction]


class FinalAction(BaseModel):
    """The run's answer (``final_answer``) or the result of one plan step (``step_done``)."""

    kind: str = FINAL_ANSWER
    answer: str
    citations: list[str] = Field(default_factory=list)
    thought: str = ""
    cut: bool = False  # the answer filled its length bound (AgentConfig.answer_chars): the grammar ended it


Action = ToolCallAction | CallBatch | FinalAction


def calls_of(action: ToolCallAction | CallBatch) -> list[ToolCallAction]:
    return list(action.calls) if isinstance(action, CallBatch) else [action]


def waits_for_results(spec: ActionSpec) -> bool:
    """Whether a call of ``spec`` written after other calls of its turn waits for their results.

    Every call of a turn is written before any of them returns. A tool whose arguments the model
    composes (``think``: code, a document) composes them from what it knows, and what the calls
    written before it will return is not known yet: asked to convert two amounts and write both to a
    file, the default model wrote the file with made-up amounts in the turn of the conversions. So
    such a call, after others, ends the turn before it and is not made; the model writes it again in
    the next turn, with the results in view. Calls of other tools (look-ups, conversions) share a
    turn, and a composed call may open one.
    """
    return spec.think


def call_key(tool: str, arguments: Mapping[str, Any]) -> str:
    """A call's identity (its tool and arguments), for repeats: a call already made is not made again."""
    return json.dumps([tool, arguments], sort_keys=True)


def made_together(
    calls: Sequence[T],
    read: Callable[[T], tuple[str, Mapping[str, Any]] | None],
    specs: Mapping[str, ActionSpec],
    made: Collection[str] = (),
) -> list[T]:
    """The calls of a turn, as written, that are made: the first, then each up to the first that
    waits for the results before it (:func:`waits_for_results`), repeats a call of the run's earlier
    turns (``made``: their :func:`call_key`) or names no offered tool (``read`` returns the call's
    tool and arguments, or None for one it cannot read: the line a decode stopped in); repeats
    within the turn are made once.

    A call that repeats one already made is not made again (its result is in view), and what the
    model writes after it is most often more of its earlier turns, copied: asked to convert two
    amounts and write them to a file, the default model wrote the file, then both conversions again,
    then two conversions nobody asked for, and the repeats ended the run. So the turn ends before it,
    and the model writes its next step with the turn's results in view. (The first call of a turn
    is made or set aside by the agent loop, which knows every turn's repeats.)
    """
    kept = list(calls[:1])
    for call in calls[1:]:
        tool, arguments = read(call) or ("", {})
        spec = specs.get(tool)
        if spec is None or waits_for_results(spec) or call_key(tool, arguments) in made:
            break
        if call not in kept:
            kept.append(call)
    return kept


def batch_of(calls: Sequence[ToolCallAction]) -> ToolCallAction | CallBatch:
    """One call as itself, several as a batch."""
    return calls[0] if len(calls) == 1 else CallBatch(calls=list(calls))


def pinned(spec: ActionSpec, fixed: dict[str, Any]) -> ActionSpec:
    """The spec with some arguments pinned to constants: the grammar admits only those values."""
    parameters = json.loads(json.dumps(spec.parameters))
    properties = parameters.setdefault("properties", {})
    for name, value in fixed.items():
        properties[name] = {"const": value}
    parameters["required"] = list(dict.fromkeys([*parameters.get("required", []), *fixed]))
    return replace(spec, parameters=parameters)


def action_schema(
    specs: Sequence[ActionSpec],
    *,
    final: str | None = FINAL_ANSWER,
    citable_ids: Sequence[str] = (),
    min_citations: int = 0,
    thought_chars: int = 0,
    answer_chars: int = 600,
    argument_chars: int | None = None,
) -> dict[str, Any]:
    """The JSON schema of one turn: one of ``specs`` called, or the ``final`` action (None: tools only).
    (Several calls in a turn are such objects one per line: ``heron.agents.turn_formats``.)

    ``thought_chars`` > 0 puts a short free-text reasoning field after the chosen action, before the
    arguments of the specs that ``think``; other calls and the answer go straight to theirs.
    """
    if not specs and final is None:
        raise ValueError("a turn needs at least one tool or the final action")
    parameters, defs = tool_parameters(specs, argument_chars)
    alternatives = []
    for spec in specs:
        thought = thought_chars if spec.think else 0
        alternatives.append(_alternative(spec.name, {"arguments": parameters[spec.name]}, thought))
    if final is not None:
        citations: dict[str, Any] = {"type": "array", "maxItems": 0, "items": {"type": "string"}}
        if citable_ids:
            citations = {
                "type": "array",
                "minItems": min_citations,
                "maxItems": 5,
                "items": {"enum": list(dict.fromkeys(citable_ids))},
            }
        # an answer has text: left free, the default model wrote "" where it had nothing to say
        answer = {"type": "string", "minLength": 1, "maxLength": answer_chars}
        fields = {"answer": answer, "citations": citations}
        alternatives.append(_alternative(final, fields, 0))  # the answer is itself the composed text
    schema: dict[str, Any] = alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}
    return {**schema, "$defs": defs} if defs else schema


def tool_parameters(
    specs: Sequence[ActionSpec], argument_chars: int | None
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Each spec's argument schema ready for a grammar, by tool name, and the ``$defs`` they share at
    the schema's root: nested models hoisted under per-tool names, strings and lists bounded by
    ``argument_chars`` (None: unbounded)."""
    defs: dict[str, Any] = {}
    parameters = {}
    for spec in specs:
        schema = _hoist_defs(spec.parameters, _safe(spec.name), defs)
        parameters[spec.name] = _bounded(schema, argument_chars) if argument_chars is not None else schema
    if argument_chars is not None:
        defs = {name: _bounded(d, argument_chars) for name, d in defs.items()}
    return parameters, defs


def argument_bounds(specs: Sequence[ActionSpec], argument_chars: int | None = None) -> dict[str, int]:
    """The string arguments of ``specs`` whose bound (their ``maxLength``, else ``argument_chars``) is
    longer than a grammar holds, by name (the smaller bound where two share a name): the decode loop
    holds them (``GenerationOptions.string_bounds``)."""
    parameters, defs = tool_parameters(specs, argument_chars)
    return long_string_bounds({"properties": parameters, "$defs": defs})


def cut_strings(arguments: dict[str, Any], parameters: dict[str, Any], default_chars: int) -> list[str]:
    """Top-level string arguments that filled their whole length bound: the grammar cut them off.

    A string's bound is its schema's ``maxLength``, else ``default_chars`` (see ``action_schema``).
    """
    properties = parameters.get("properties", {})
    cut = []
    for name, value in arguments.items():
        bound = properties.get(name, {}).get("maxLength", default_chars)
        if isinstance(value, str) and len(value) >= bound:
            cut.append(name)
    return cut


def parse_action(value: Any, final: str | None = FINAL_ANSWER) -> Action:
    """Turn the decoded JSON into an action (the grammar already guarantees its shape). A list of call
    objects is a batch (what a backend without raw grammars, e.g. a scripted fake, can return)."""
    if isinstance(value, list) and value:
        actions = [parse_action(v, final) for v in value]
        calls = [a for a in actions if isinstance(a, ToolCallAction)]
        if not calls:
            return actions[0]
        return calls[0] if len(calls) == 1 else CallBatch(calls=calls)
    if not isinstance(value, dict) or "action" not in value:
        raise ValueError(f"not an action: {json.dumps(value)[:200]}")
    thought = str(value.get("thought", ""))
    if final is not None and value["action"] == final:
        return FinalAction(
            kind=final,
            answer=value.get("answer", ""),
            citations=list(value.get("citations", [])),
            thought=thought,
        )
    return ToolCallAction(tool=value["action"], arguments=dict(value.get("arguments") or {}), thought=thought)


def _alternative(name: str, fields: dict[str, Any], thought_chars: int) -> dict[str, Any]:
    # the action first, so choosing it is the same decision with or without a thought; the thought
    # then comes before the arguments or the answer it prepares
    properties: dict[str, Any] = {"action": {"const": name}}
    if thought_chars:
        properties["thought"] = {"type": "string", "maxLength": thought_chars}
    properties.update(fields)
    return {"type": "object", "properties": properties, "required": list(properties)}


def _bounded(node: Any, chars: int, max_items: int = 16) -> Any:
    """Give every string a maxLength and every array a maxItems where the schema sets none, so the
    grammar cannot ramble past the turn's token limit (strings inside arrays get a quarter)."""
    if isinstance(node, list):
        return [_bounded(v, chars, max_items) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _bounded(v, chars, max_items) if isinstance(v, dict | list) else v for k, v in node.items()}
    if "properties" in node:  # property names are not schemas' keywords: rebuild that mapping
        out["properties"] = {
            k: _bounded({**_bounded_any(chars, max_items), **v} if is_shapeless(v) else v, chars, max_items)
            for k, v in node["properties"].items()
        }
    items = node.get("items")
    if isinstance(items, dict):
        # each element gets a quarter of the argument's characters, so a full list still fits a turn
        item_chars = max(10, chars // 4)
        out["items"] = _bounded(
            {**_bounded_any(item_chars, max_items), **items} if is_shapeless(items) else items,
            item_chars,
            max_items,
        )
    if (
        node.get("type") == "string"
        and "maxLength" not in node
        and "enum" not in node
        and "const" not in node
    ):
        out["maxLength"] = chars
    if node.get("type") == "array" and "maxItems" not in node:
        out["maxItems"] = max_items
    return out


def _bounded_any(chars: int, max_items: int) -> dict[str, Any]:
    """ "Any value" for an argument typed Any: a scalar or a short list of scalars, each bounded (the
    full JSON value grammar has unbounded nesting, which a small model fills until the turn ends)."""
    scalar: list[dict[str, Any]] = [
        {"type": "string", "maxLength": chars},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "null"},
    ]
    description = {"description": "any value"}
    return {
        "anyOf": [*scalar, {"type": "array", "maxItems": max_items, "items": {"anyOf": scalar}}],
        **description,
    }


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "-", name)


def _hoist_defs(schema: dict[str, Any], prefix: str, into: dict[str, Any]) -> dict[str, Any]:
    """Move a tool schema's ``$defs`` to the root under prefixed names and rewrite its ``$ref``s.

    Pydantic puts nested models in ``$defs``; once the schema sits inside ``anyOf`` its local refs
    would point at the wrong root, and two tools may define a model of the same name.
    """
    schema = copy.deepcopy(schema)
    local = schema.pop("$defs", {})
    renamed = {name: f"{prefix}--{name}" for name in local}

    def rewrite(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                    target = value.removeprefix("#/$defs/")
                    out[key] = f"#/$defs/{renamed.get(target, target)}"
                elif key == "title" and not in_properties and isinstance(value, str):
                    continue  # an annotation, noise for the grammar (a property named "title" stays)
                else:
                    out[key] = rewrite(value, in_properties=key == "properties" and not in_properties)
            return out
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    for name, definition in local.items():
        into[renamed[name]] = rewrite(definition)
    return rewrite(schema)
