"""Berkeley Function Calling Leaderboard data and scoring, shared by the BFCL benchmark script.

Scoring follows BFCL's AST rule: the function name must match, every argument the model gave must
be among the acceptable values of the ground truth, every argument whose acceptable values do not
include "" must be present. Strings compare after BFCL's normalisation (case, spaces, punctuation).
A parallel item (``parallel_multiple``) is right only when the calls made are exactly as many as its
ground truth's and each ground-truth call is matched by a different one of them (any order).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BFCL = REPO.parent / "shared" / "data" / "bfcl"
_TYPES = {"dict": "object", "float": "number", "tuple": "array", "int": "integer", "bool": "boolean"}


@dataclass
class Item:
    id: str
    question: str
    functions: list[dict[str, Any]]
    # None for irrelevance (no call is right); else alternatives for one call, or for a parallel item
    # the calls that must all be made
    answers: list[dict[str, dict[str, list[Any]]]] | None
    parallel: bool = False


def load(category: str, limit: int | None = None, offset: int = 0) -> list[Item]:
    answers: dict[str, Any] = {}
    answer_file = BFCL / "possible_answer" / f"BFCL_v4_{category}.json"
    if answer_file.exists():
        for line in answer_file.read_text().splitlines():
            row = json.loads(line)
            answers[row["id"]] = row["ground_truth"]
    items = []
    for line in (
        (BFCL / f"BFCL_v4_{category}.json")
        .read_text()
        .splitlines()[offset : None if limit is None else offset + limit]
    ):
        row = json.loads(line)
        turn = row["question"][0]
        question = " ".join(m["content"] for m in turn if m["role"] == "user")
        parallel = category.startswith("parallel")
        items.append(Item(row["id"], question, row["function"], answers.get(row["id"]), parallel))
    return items


def to_json_schema(node: Any) -> Any:
    """BFCL's JSON-schema dialect ("dict", "float", "tuple", "any") to standard JSON schema."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "type" and isinstance(value, str):
                if value == "any":
                    continue
                out[key] = _TYPES.get(value, value)
            elif key in ("properties",):
                out[key] = {k: to_json_schema(v) for k, v in value.items()}
            elif key in ("items", "additionalProperties"):
                out[key] = to_json_schema(value)
            elif key in ("description", "required", "enum", "default"):
                out[key] = value
        if out.get("type") == "object" and "properties" not in out:
            out["properties"] = {}
        return out
    return node


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return re.sub(r"[ ,./\-_*^]", "", value).lower()
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _matches(truth: dict[str, dict[str, list[Any]]], name: str, arguments: dict[str, Any]) -> bool:
    """One model call against one ground-truth call ``{name: {argument: acceptable values}}``."""
    if name not in truth:
        return False
    accepted = truth[name]
    if any(arg not in accepted for arg in arguments):
        return False
    for arg, values in accepted.items():
        if arg not in arguments:
            if "" not in values:
                return False
            continue
        if _norm(arguments[arg]) not in [_norm(v) for v in values if v != ""]:
            return False
    return True


def call_is_correct(item: Item, name: str | None, arguments: dict[str, Any]) -> bool:
    """A single-call item: the one call (or None for an answer) is right."""
    if item.answers is None:
        return name is None
    if name is None:
        return False
    return any(_matches(truth, name, arguments) for truth in item.answers)


def calls_are_correct(item: Item, calls: list[tuple[str, dict[str, Any]]]) -> bool:
    """Every call the system made, in order. A single-call item scores the first (or no call); a
    parallel item needs exactly its ground truth's calls, each matched once, in any order."""
    if not item.parallel:
        name, arguments = calls[0] if calls else (None, {})
        return call_is_correct(item, name, arguments)
    truths = item.answers or []
    if len(calls) != len(truths):
        return False

    def assign(i: int, used: frozenset[int]) -> bool:  # a perfect matching, by backtracking
        if i == len(truths):
            return True
        return any(
            j not in used and _matches(truths[i], *calls[j]) and assign(i + 1, used | {j})
            for j in range(len(calls))
        )

    return assign(0, frozenset())


def calls_matched(item: Item, calls: list[tuple[str, dict[str, Any]]]) -> int:
    """How many of a parallel item's ground-truth calls the calls made match, each call matching at
    most one (a maximum matching): partial credit where ``calls_are_correct`` is all or nothing."""
    truths = item.answers or []
    owner: dict[int, int] = {}  # call index -> the truth it is matched to

    def augment(i: int, seen: set[int]) -> bool:
        for j, call in enumerate(calls):
            if j in seen or not _matches(truths[i], *call):
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(truths)))
