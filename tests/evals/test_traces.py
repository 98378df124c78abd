"""Groundedness of agent answers read from real trace files (written with heron.tracing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.errors import DatasetError
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.groundedness import ModelFreeGroundedness
from heron.evals.traces import read_trace_answer, read_traces, score_traces, trace_files
from heron.tracing import AnswerEvent, RetrievalEvent, RunFinishedEvent, RunStartedEvent, Tracer

PASSAGE = {"id": "doc1#0", "source": "herons.md", "text": "Grey herons nest in colonies called heronries."}


def _write_trace(
    path: Path, answer: str | None, retrieved_on_answer: bool = True, cancelled: bool = False
) -> Path:
    with Tracer(path) as tracer:
        tracer.emit(
            RunStartedEvent(run_id="r1", goal="Where do grey herons nest?", model="m", tools=[], budget={})
        )
        tracer.emit(RetrievalEvent(run_id="r1", step=1, query="herons nest", passages=[PASSAGE]))
        if answer is not None:
            tracer.emit(
                AnswerEvent(
                    run_id="r1",
                    step=2,
                    text=answer,
                    retrieved=[PASSAGE, PASSAGE] if retrieved_on_answer else [],
                )
            )
        if answer is not None or cancelled:
            status = "cancelled" if cancelled else "succeeded"
            tracer.emit(RunFinishedEvent(run_id="r1", status=status, usage={}, seconds=1.0))
    return path


def test_reads_the_answer_its_question_and_passages(tmp_path: Path) -> None:
    run = read_trace_answer(_write_trace(tmp_path / "r1.jsonl", "They nest in heronries."))
    assert run.answer == "They nest in heronries."
    assert run.question == "Where do grey herons nest?"
    assert run.passages == [PASSAGE["text"]]  # the same passage twice counts once
    assert run.stopped_by == "answer"


def test_falls_back_to_retrieval_events_when_the_answer_lists_none(tmp_path: Path) -> None:
    run = read_trace_answer(_write_trace(tmp_path / "r1.jsonl", "In heronries.", retrieved_on_answer=False))
    assert run.passages == [PASSAGE["text"]]


def test_unfinished_and_malformed_traces_are_reported(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no `answer` event"):
        read_trace_answer(_write_trace(tmp_path / "open.jsonl", None))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"type": "answer", "run_id": "x", "text": "hi"}\n{"type": "answer", "run_id"\n')
    with pytest.raises(DatasetError, match=r"broken.jsonl:2"):
        read_trace_answer(broken)


def test_scores_each_trace_in_a_folder(tmp_path: Path, embedder: SentenceEmbedder) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    _write_trace(folder / "a.jsonl", "Grey herons nest in colonies called heronries.")
    _write_trace(folder / "b.jsonl", "Herons migrate to Antarctica every winter by submarine.")
    assert [p.name for p in trace_files([folder])] == ["a.jsonl", "b.jsonl"]
    runs, skipped = read_traces([folder])
    (run_a, grounded), (run_b, made_up) = score_traces(runs, ModelFreeGroundedness(embedder))
    assert run_a.path.name == "a.jsonl" and run_b.path.name == "b.jsonl"
    assert grounded.score > 0.9 > made_up.score
    assert skipped == []


def test_runs_that_gave_no_answer_of_their_own_are_skipped_and_the_others_read(tmp_path: Path) -> None:
    folder = tmp_path / "traces"
    folder.mkdir()
    _write_trace(folder / "a.jsonl", "Grey herons nest in colonies called heronries.")
    _write_trace(folder / "b.jsonl", None, cancelled=True)
    with Tracer(folder / "c.jsonl") as tracer:  # out of budget: heron's "no answer" event, empty text
        tracer.emit(AnswerEvent(run_id="c", text="", answered=False, note="the step budget ran out"))
    runs, skipped = read_traces([folder])
    assert [run.path.name for run in runs] == ["a.jsonl"]
    assert [(s.path.name, s.reason) for s in skipped] == [
        ("b.jsonl", "the trace has no `answer` event (the run ended cancelled without one)"),
        ("c.jsonl", "the run gave no answer of its own (the step budget ran out)"),
    ]
