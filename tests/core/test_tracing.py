from __future__ import annotations

from pathlib import Path

import pytest

from heron.errors import DatasetError
from heron.tracing import (
    AnswerEvent,
    ModelTurnEvent,
    RunStartedEvent,
    TokenEvent,
    ToolCallEvent,
    Tracer,
    read_trace,
    trace_path,
)


def test_events_round_trip_through_the_file_and_reach_callbacks(tmp_path: Path) -> None:
    path = trace_path(tmp_path, "run-1")
    seen: list[object] = []
    events = [
        RunStartedEvent(run_id="run-1", goal="add", model="m", tools=["calculator"], budget={"max_steps": 3}),
        ModelTurnEvent(
            run_id="run-1",
            step=1,
            output="{}",
            prompt_tokens=10,
            cached_prompt_tokens=8,
            completion_tokens=3,
            seconds=0.1,
        ),
        ToolCallEvent(
            run_id="run-1", step=1, call_id="c1", tool="calculator", arguments={"expression": "1+1"}
        ),
        TokenEvent(run_id="run-1", step=2, text="2"),
        AnswerEvent(
            run_id="run-1", step=2, text="2", citations=["p1"], retrieved=[{"id": "p1", "text": "x"}]
        ),
    ]
    with Tracer(path, callbacks=[seen.append]) as tracer:
        for event in events:
            tracer.emit(event)
    assert seen == events  # callbacks get everything, tokens included
    loaded = read_trace(path)
    assert [e.type for e in loaded] == [
        "run_started",
        "model_turn",
        "tool_call",
        "answer",
    ]  # tokens not stored
    assert loaded[1] == events[1]
    assert loaded[3].retrieved[0]["id"] == "p1"


def test_a_broken_line_is_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    good = AnswerEvent(run_id="r", text="ok").model_dump_json()
    path.write_text(good + "\n" + '{"type": "answer", "run_id": "r", "te\n')
    with pytest.raises(DatasetError, match=r"t\.jsonl:2"):
        read_trace(path)


def test_missing_trace_says_where_traces_live(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="heron runs"):
        read_trace(tmp_path / "nope.jsonl")
