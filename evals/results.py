"""What an eval run produces: tables of figures per suite, saved as JSON and read back for reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from heron.errors import DatasetError

RESULT_FORMAT = "heron-eval/1"


class ResultTable(BaseModel):
    """Rows of named figures, e.g. one row per BBQ category with columns s_AMB, s_DIS, accuracy."""

    title: str
    rows: dict[str, dict[str, float | None]]
    plot_columns: list[str] = Field(default_factory=list, description="columns drawn as bars (same scale)")
    reference: float | None = Field(None, description="a value drawn as a line, e.g. chance AUROC 0.5")
    value_range: tuple[float, float] | None = Field(None, description="fixed axis range of the plot")
    note: str = ""


class SuiteResult(BaseModel):
    """The tables one suite (hallucination, truthfulqa, bias) produced, and how long it took."""

    suite: str
    seconds: float
    items: dict[str, int] = Field(default_factory=dict, description="dataset -> items used")
    tables: list[ResultTable] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class EvalRun(BaseModel):
    """One ``heron eval`` invocation: which model, on what data, with which results."""

    format: str = RESULT_FORMAT
    name: str
    model: str
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    command: str = ""
    limit: int | None = None
    data_root: str = ""
    seconds: float = 0.0
    suites: list[SuiteResult] = Field(default_factory=list)

    def suite(self, name: str) -> SuiteResult | None:
        return next((s for s in self.suites if s.suite == name), None)

    def table(self, suite: str, title: str) -> ResultTable | None:
        found = self.suite(suite)
        return next((t for t in found.tables if t.title == title), None) if found else None


def save_run(run: EvalRun, out_dir: Path) -> Path:
    """Write ``<out_dir>/<name>.json`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{run.name}.json"
    path.write_text(run.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def load_run(path: Path) -> EvalRun:
    """Read a result file written by :func:`save_run`; a bad file raises DatasetError naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DatasetError(
            f"eval result not found: {path}", "pass a .json file written by `heron eval`"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read eval result {path}: {exc}", "check the file's permissions") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg})", "pass a .json file written by `heron eval`"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != RESULT_FORMAT:
        raise DatasetError(
            f"{path}: not a heron eval result (format {RESULT_FORMAT!r} expected)",
            "pass a .json file written by `heron eval`",
        )
    try:
        return EvalRun.model_validate(data)
    except ValidationError as exc:
        raise DatasetError(
            f"{path}: malformed eval result ({exc.errors()[0]['msg']})", "re-create it with `heron eval`"
        ) from exc
