"""Every run a user can look at on the page: served runs in progress, runs in the run store (task
runs and served runs) and runs known only by their trace file (``heron chat``, SDK scripts).

A row says what the run was (kind, name, goal), how it ended (status), when it started, how long it
took and how many tokens it generated, read from its trace where there is one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from heron.agents.run_store import RunRecord
from heron.agents.serve.live import LiveRun
from heron.errors import DatasetError
from heron.tracing import read_trace, summarize_trace, trace_path


class ListsRuns(Protocol):
    def list_runs(self, limit: int = 50) -> list[RunRecord]: ...


def list_runs(
    data_dir: Path, store: ListsRuns, live: dict[str, LiveRun], limit: int = 100
) -> list[dict[str, Any]]:
    """The newest ``limit`` runs, newest first; sub-agents' runs appear inside their caller's trace."""
    rows: dict[str, dict[str, Any]] = {}
    for record in store.list_runs(limit):
        rows[record.id] = {
            "id": record.id,
            "kind": record.kind,
            "name": record.name,
            "goal": record.goal,
            "status": record.status,
            "created": record.created,
            "steps": record.steps,
        }
    traces = sorted((data_dir / "traces").glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in traces[:limit]:
        summary = summarize_trace(path)
        if summary is None or summary.parent:
            continue
        row = rows.setdefault(
            summary.run_id,
            {
                "id": summary.run_id,
                "kind": summary.kind,
                "name": "",
                "goal": summary.goal,
                "steps": summary.steps,
            },
        )
        row.setdefault("created", summary.started)
        row.setdefault("status", summary.status)
        extra = {"seconds": summary.seconds, "tokens": summary.tokens, "model": summary.model}
        row.update({k: v for k, v in extra.items() if v is not None})
        if summary.messages > 1:
            row["messages"], row["messages_not_succeeded"] = summary.messages, summary.unsucceeded
    for run in list(live.values()):
        row = rows.setdefault(run.run_id, run.summary())
        row["status"], row["live"] = run.status, not run.ended.is_set()
    return sorted(rows.values(), key=lambda r: r.get("created", 0.0), reverse=True)[:limit]


def run_events(data_dir: Path, run_id: str, live: dict[str, LiveRun]) -> list[dict[str, Any]]:
    """A run's events: a live run's as they were streamed, else its trace file's."""
    if run_id in live:
        return list(live[run_id].events)
    path = trace_path(data_dir, run_id)
    try:
        return [event.model_dump(mode="json") for event in read_trace(path)]
    except DatasetError:
        if path.is_file():  # a line cut by a crash: every whole line before it
            return _whole_lines(path)
        raise


def _whole_lines(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return events
