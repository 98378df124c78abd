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
from heron.tracing import read_trace, run_kind, trace_path


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
        run_id = path.stem
        summary = trace_summary(path)
        if summary is None or summary.get("parent"):
            continue
        row = rows.setdefault(
            run_id,
            {
                "id": run_id,
                "kind": run_kind(run_id),
                "name": "",
                "goal": summary["goal"],
                "steps": summary["steps"],
            },
        )
        row.setdefault("created", summary["created"])
        row.setdefault("status", summary["status"])
        row.update({k: summary[k] for k in ("seconds", "tokens", "model") if summary.get(k) is not None})
    for run in list(live.values()):
        row = rows.setdefault(run.run_id, run.summary())
        row["status"], row["live"] = run.status, not run.ended.is_set()
    return sorted(rows.values(), key=lambda r: r.get("created", 0.0), reverse=True)[:limit]


def trace_summary(path: Path) -> dict[str, Any] | None:
    """Goal, start, status, seconds and generated tokens from a trace's first and last events."""
    try:
        with path.open("rb") as fh:
            first = json.loads(fh.readline() or b"{}")
            last = json.loads(_last_line(fh) or b"{}")
    except (OSError, json.JSONDecodeError):
        return None
    if first.get("type") != "run_started":
        return None
    finished = last.get("type") == "run_finished"
    usage = last.get("usage", {}) if finished else {}
    return {
        "goal": first.get("goal", ""),
        "created": first.get("time", 0.0),
        "model": first.get("model"),
        "parent": first.get("parent_run_id"),
        "status": last.get("status") if finished else "interrupted",
        "seconds": last.get("seconds") if finished else None,
        "tokens": int(usage.get("completion_tokens", 0)) if finished else None,
        "steps": int(last.get("step", 0)),  # a conversation's: its last message's
    }


def _last_line(fh: Any, block: int = 8192) -> bytes:
    """The file's last non-empty line, read from its end (a listing must not read whole traces)."""
    fh.seek(0, 2)
    end = fh.tell()
    tail = b""
    while end > 0 and tail.strip().count(b"\n") < 1:
        start = max(0, end - block)
        fh.seek(start)
        tail = fh.read(end - start) + tail
        end = start
    lines = [line for line in tail.splitlines() if line.strip()]
    return lines[-1] if lines else b""


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
