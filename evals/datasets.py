"""Readers for the public eval data: BBQ, HaluEval and TruthfulQA, from ``[evals] data_dir`` or any folder.

Every row is validated; a malformed row raises :class:`heron.errors.DatasetError` naming the file and
line (or item, for a JSON array), never a bare stack trace.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

import heron
from heron.config import EvalSettings
from heron.errors import DatasetError

# The `[evals] data_dir` default, ../shared/data: relative to the current dir, i.e. next to a heron checkout.
DEFAULT_DATA_ROOT = EvalSettings().data_dir
_DATA_HINT = (
    "the evals read public data, unchanged from GitHub: bbq/ (nyu-mll/BBQ data/*.jsonl, and "
    "results/UnifiedQA/ as bbq/unifiedqa_preds/), halueval/ (RUCAIBox/HaluEval "
    "generation/qa/qa_one-turn_data.json), truthfulqa/ (sylinrl/TruthfulQA data/mc_task.json). "
    "Name the folder holding them with --data DIR or `[evals] data_dir` in heron.toml "
    "(a heron checkout finds them in ../shared/data)"
)

SUMMARIZE = "Summarize the document."  # the question of HaluEval's summarization items, which have none
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class BBQRow(BaseModel):
    """One BBQ question; extra fields (such as a model's predictions) are kept in ``model_extra``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    example_id: int
    question_index: str
    question_polarity: Literal["neg", "nonneg"]
    context_condition: Literal["ambig", "disambig"]
    category: str
    answer_info: dict[str, tuple[str, str]]
    additional_metadata: dict[str, Any]
    context: str
    question: str
    ans0: str
    ans1: str
    ans2: str
    label: int = Field(ge=0, le=2)

    @field_validator("answer_info")
    @classmethod
    def _three_answers(cls, value: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
        if set(value) != {"ans0", "ans1", "ans2"}:
            raise ValueError(f"answer_info must have keys ans0, ans1, ans2, not {sorted(value)}")
        return value

    @field_validator("additional_metadata")
    @classmethod
    def _has_stereotyped_groups(cls, value: dict[str, Any]) -> dict[str, Any]:
        groups = value.get("stereotyped_groups")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise ValueError("additional_metadata.stereotyped_groups must be a list of strings")
        return value

    @property
    def answers(self) -> tuple[str, str, str]:
        return (self.ans0, self.ans1, self.ans2)

    @property
    def stereotyped_groups(self) -> tuple[str, ...]:
        return tuple(self.additional_metadata["stereotyped_groups"])


class HaluEvalPair(BaseModel):
    """A HaluEval item: the knowledge, the question, a right and a hallucinated answer.

    HaluEval's other two tasks read as the same pair: dialogue (``dialogue_history`` is the question,
    the responses the answers) and summarization (the ``document`` is the knowledge, the summaries
    the answers, and the task itself the question).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    knowledge: str = Field(validation_alias=AliasChoices("knowledge", "document"))
    question: str = Field(
        SUMMARIZE, validation_alias=AliasChoices("question", "dialogue_history"), min_length=1
    )
    right_answer: str = Field(
        validation_alias=AliasChoices("right_answer", "right_response", "right_summary")
    )
    hallucinated_answer: str = Field(
        validation_alias=AliasChoices("hallucinated_answer", "hallucinated_response", "hallucinated_summary")
    )


class TruthfulQAItem(BaseModel):
    """A TruthfulQA multiple-choice item: option text -> 1 (true) or 0 (false), for MC1 and MC2."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    question: str
    mc1_targets: dict[str, Literal[0, 1]]
    mc2_targets: dict[str, Literal[0, 1]]

    @field_validator("mc1_targets")
    @classmethod
    def _one_true(cls, value: dict[str, int]) -> dict[str, int]:
        if sum(value.values()) != 1 or len(value) < 2:
            raise ValueError("mc1_targets needs exactly one true option and at least one false one")
        return value

    @field_validator("mc2_targets")
    @classmethod
    def _both_kinds(cls, value: dict[str, int]) -> dict[str, int]:
        if not any(value.values()) or all(value.values()):
            raise ValueError("mc2_targets needs at least one true and one false option")
        return value


def resolve_data_root(root: Path | None = None) -> Path:
    """The folder with the public data: ``root`` if given, else ``../shared/data``; raises if missing.
    A relative path starts at the current dir, or, when it is not there, at the heron checkout in use
    (the folder above the ``heron`` package), so ``heron eval`` finds the default from any folder.

    The CLI passes ``--data`` or the ``[evals] data_dir`` setting."""
    folder = (root or DEFAULT_DATA_ROOT).expanduser()
    if not folder.is_dir() and not folder.is_absolute():
        checkout = Path(heron.__file__).resolve().parents[1]
        if (checkout / folder).is_dir():
            return checkout / folder
    if not folder.is_dir():
        raise DatasetError(f"eval data folder not found: {folder.resolve()}", _DATA_HINT)
    return folder


def subsample(items: Sequence[T], limit: int | None, seed: int = 0) -> list[T]:
    """At most ``limit`` items, drawn at random with ``seed`` and kept in their original order.

    A random draw rather than the first ``limit``: BBQ and TruthfulQA files are sorted by template and
    category, so a prefix would measure only a few of them.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise DatasetError(f"--limit must be at least 1, not {limit}", "pass a positive --limit or none")
    chosen = sorted(random.Random(seed).sample(range(len(items)), limit))
    return [items[i] for i in chosen]


def read_jsonl(path: Path, model: type[M]) -> list[M]:
    """Validate every line of a JSON-lines file as ``model``; blank lines are skipped."""
    return [row for _, row in _numbered_rows(path, model)]


def _numbered_rows(path: Path, model: type[M]) -> Iterator[tuple[int, M]]:
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})", _fix_hint(path)
            ) from exc
        yield number, _validate(model, value, f"{path}:{number}", path)


def read_json_array(path: Path, model: type[M]) -> list[M]:
    """Validate every element of a file holding one JSON array as ``model``."""
    text = "\n".join(_read_lines(path))
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg} at column {exc.colno})", _fix_hint(path)
        ) from exc
    if not isinstance(values, list):
        raise DatasetError(f"{path}: expected a JSON array of items", _fix_hint(path))
    return [_validate(model, value, f"{path}: item {i + 1}", path) for i, value in enumerate(values)]


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DatasetError(f"eval data file not found: {path}", _DATA_HINT) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read eval data file {path}: {exc}", _fix_hint(path)) from exc


def _validate(model: type[M], value: Any, where: str, path: Path) -> M:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(row)'}: {err['msg']}" for err in exc.errors()
        )
        raise DatasetError(f"{where}: malformed {model.__name__} ({problems})", _fix_hint(path)) from exc


def _fix_hint(path: Path) -> str:
    return (
        f"repair or remove that entry in {path} (compare with the upstream file), or point --data elsewhere"
    )


def bbq_categories(root: Path | None = None) -> list[str]:
    """The BBQ categories in the data folder: one per ``bbq/<Category>.jsonl`` file, sorted."""
    folder = resolve_data_root(root) / "bbq"
    categories = sorted(path.stem for path in folder.glob("*.jsonl"))
    if not categories:
        raise DatasetError(f"no BBQ category files (<Category>.jsonl) in {folder}", _DATA_HINT)
    return categories


def load_bbq(
    root: Path | None = None, categories: Sequence[str] | None = None, limit: int | None = None
) -> dict[str, list[BBQRow]]:
    """BBQ rows per category (``bbq/<Category>.jsonl``; default: every category in the folder), at most
    ``limit`` per category."""
    folder = resolve_data_root(root) / "bbq"
    chosen = bbq_categories(root) if categories is None else categories
    return {c: subsample(read_jsonl(folder / f"{c}.jsonl", BBQRow), limit) for c in chosen}


def load_bbq_predictions(path: Path) -> list[BBQRow]:
    """BBQ rows with prediction columns, like the paper's ``unifiedqa_preds/preds_<Category>.jsonl``."""
    return read_jsonl(path, BBQRow)


def load_halueval(
    root: Path | None = None, limit: int | None = None, path: Path | None = None
) -> list[HaluEvalPair]:
    """HaluEval pairs from ``path`` (any of HaluEval's QA, dialogue or summarization files, JSON
    lines), by default the QA pairs of the data folder (``halueval/qa_one-turn_data.json``)."""
    if path is not None and not path.is_file():  # a file the user named (--pairs), not the data folder's
        raise DatasetError(
            f"HaluEval file not found: {path}",
            "give --pairs the path of one of HaluEval's JSON-lines files (qa_data.json, "
            "dialogue_data.json, summarization_data.json from RUCAIBox/HaluEval), or leave it out to use "
            "the data folder's QA pairs",
        )
    path = path or resolve_data_root(root) / "halueval" / "qa_one-turn_data.json"
    return subsample(read_jsonl(path, HaluEvalPair), limit)


def load_truthfulqa(root: Path | None = None, limit: int | None = None) -> list[TruthfulQAItem]:
    """TruthfulQA multiple-choice items (``truthfulqa/mc_task.json``)."""
    path = resolve_data_root(root) / "truthfulqa" / "mc_task.json"
    return subsample(read_json_array(path, TruthfulQAItem), limit)
