"""Berkeley Function Calling Leaderboard data and scoring, shared by the BFCL benchmark script.

Scoring follows BFCL's AST rule: the function name must match, every argument the model gave must
be among the acceptable values of the ground truth, every argument whose acceptable values do not
include "" must be present. Strings compare after BFCL's normalisation (case, spaces, punctuation).
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
    answers: list[dict[str, dict[str, list[Any]]]] | None  # None for irrelevance (no call is right)


def load(category: str, limit: int | None = None) -> list[Item]:
    answers: dict[str, Any] = {}
    answer_file = BFCL / "possible_answer" / f"BFCL_v4_{category}.json"
    if answer_file.exists():
        for line in answer_file.read_text().splitlines():
            row = json.loads(line)
            answers[row["id"]] = row["ground_truth"]
    items = []
    for line in (BFCL / f"BFCL_v4_{category}.json").read_text().splitlines()[:limit]:
        row = json.loads(line)
        turn = row["question"][0]
        question = " ".join(m["content"] for m in turn if m["role"] == "user")
        items.append(Item(row["id"], question, row["function"], answers.get(row["id"])))
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


def call_is_correct(item: Item, name: str | None, arguments: dict[str, Any]) -> bool:
    if item.answers is None:
        return name is None
    if name is None:
        return False
    for truth in item.answers:
        if name not in truth:
            continue
        accepted = truth[name]
        if any(arg not in accepted for arg in arguments):
            continue
        ok = True
        for arg, values in accepted.items():
            if arg not in arguments:
                if "" not in values:
                    ok = False
                    break
                continue
            if _norm(arguments[arg]) not in [_norm(v) for v in values if v != ""]:
                ok = False
                break
        if ok:
            return True
    return False
