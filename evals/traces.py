"""Groundedness of agent answers read from run traces (``<data_dir>/traces/<run_id>.jsonl``).

The format is the one ``heron.tracing`` writes: JSON lines, one event per line, each with a
``type``. The evals need three of them:

- ``run_started`` with ``goal``: the question the run answered (optional),
- ``retrieval`` with ``passages``: ``[{"id", "source", "text", ...}]``, every passage a tool returned,
- ``answer`` with ``text`` and ``retrieved`` (the passages the run saw, same shape); the last one wins.

The answer is scored against the passages of its ``retrieved`` list, or, when that is empty, of all
``retrieval`` events. Evals read these files and never import ``heron.agents``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from heron.errors import DatasetError
from heron.evals.groundedness import GroundednessResult
from heron.tracing import AnswerEvent, RetrievalEvent, RunFinishedEvent, RunStartedEvent, read_trace


class GroundednessScorer(Protocol):
    def score(
        self, answer: str, contexts: Sequence[str], question: str | None = None
    ) -> GroundednessResult: ...


@dataclass
class TraceAnswer:
    """The final answer of one run and the passages it had retrieved."""

    path: Path
    run_id: str
    question: str | None
    answer: str
    passages: list[str]
    stopped_by: str


@dataclass
class SkippedTrace:
    """A trace with nothing to score: its run gave no answer of its own (cancelled, failed, out of
    budget, still running)."""

    path: Path
    reason: str


def _passage_texts(passages: Iterable[dict[str, Any]]) -> list[str]:
    texts = (str(p.get("text", "")).strip() for p in passages)
    return list(dict.fromkeys(t for t in texts if t))  # the same passage retrieved twice counts once


def read_trace_answer(path: Path) -> TraceAnswer:
    """The last answer of a trace with its retrieved passages; raises DatasetError if there is none."""
    answer = _read(path)
    if isinstance(answer, SkippedTrace):
        raise DatasetError(
            f"{path}: {answer.reason}", "only runs that answered can be scored; a folder's others still are"
        )
    return answer


def _read(path: Path) -> TraceAnswer | SkippedTrace:
    events = read_trace(path)
    answers = [e for e in events if isinstance(e, AnswerEvent)]
    if not answers:
        ended = next((e for e in reversed(events) if isinstance(e, RunFinishedEvent)), None)
        how = f"the run ended {ended.status} without one" if ended else "the run did not finish"
        return SkippedTrace(path, f"the trace has no `answer` event ({how})")
    answer = answers[-1]
    if not answer.answered:
        return SkippedTrace(path, f"the run gave no answer of its own ({answer.note or answer.stopped_by})")
    passages = _passage_texts(answer.retrieved)
    if not passages:
        passages = _passage_texts(p for e in events if isinstance(e, RetrievalEvent) for p in e.passages)
    started = next((e for e in events if isinstance(e, RunStartedEvent)), None)
    return TraceAnswer(
        path=path,
        run_id=answer.run_id,
        question=started.goal if started else None,
        answer=answer.text,
        passages=passages,
        stopped_by=answer.stopped_by,
    )


def trace_files(paths: Iterable[Path]) -> list[Path]:
    """Trace files named by ``paths``: files as given, folders expanded to their ``*.jsonl``."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.glob("*.jsonl"))
        else:
            found.append(path)
    return found


def read_traces(paths: Iterable[Path]) -> tuple[list[TraceAnswer], list[SkippedTrace]]:
    """The answered runs among the traces ``paths`` name, and the traces skipped for having none; a
    broken trace file raises DatasetError."""
    answered: list[TraceAnswer] = []
    skipped: list[SkippedTrace] = []
    for path in trace_files(paths):
        read = _read(path)
        if isinstance(read, SkippedTrace):
            skipped.append(read)
        else:
            answered.append(read)
    return answered, skipped


def score_traces(
    runs: Sequence[TraceAnswer], scorer: GroundednessScorer
) -> list[tuple[TraceAnswer, GroundednessResult]]:
    """Groundedness of each run's final answer against the passages that run retrieved."""
    return [(run, scorer.score(run.answer, run.passages, run.question)) for run in runs]
