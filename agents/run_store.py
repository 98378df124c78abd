"""Runs and their step checkpoints in SQLite under the data dir.

The schema evolves through named, append-only migrations: a released migration is never edited;
a change is a new function at the end of ``MIGRATIONS``. Applied names are kept in ``migrations``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from heron.agents.state import RunState
from heron.errors import UsageError
from heron.status import StoredStatus

RunStatus = StoredStatus  # one vocabulary: heron.status


def _run_all(db: sqlite3.Connection, script: str) -> None:
    # statement by statement: executescript() would commit the surrounding migration transaction
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _m001_runs_and_checkpoints(db: sqlite3.Connection) -> None:
    _run_all(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            task_name TEXT NOT NULL,
            task_path TEXT NOT NULL,
            goal TEXT NOT NULL,
            status TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL,
            answer TEXT,
            error TEXT
        );
        CREATE TABLE checkpoints (
            run_id TEXT NOT NULL REFERENCES runs(id),
            step INTEGER NOT NULL,
            created REAL NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (run_id, step)
        );
        """,
    )


def _m002_run_outcome(db: sqlite3.Connection) -> None:
    # outcome: JSON of checks, stopped_by, citations, artifacts; kv_state: path of the latest KV cache
    _run_all(
        db,
        """
        ALTER TABLE runs ADD COLUMN exit_code INTEGER;
        ALTER TABLE runs ADD COLUMN outcome TEXT;
        ALTER TABLE runs ADD COLUMN kv_state TEXT
        """,
    )


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("001_runs_and_checkpoints", _m001_runs_and_checkpoints),
    ("002_run_outcome", _m002_run_outcome),
]


class RunRecord(BaseModel):
    id: str
    task_name: str
    task_path: str
    goal: str
    status: str
    created: float
    updated: float
    answer: str | None = None
    error: str | None = None
    exit_code: int | None = None
    outcome: dict[str, Any] | None = None
    kv_state: str | None = None
    steps: int = 0


class RunStore:
    """SQLite store of runs; one connection per store, closed with ``close()`` or ``with``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._use_wal(deadline=time.monotonic() + 30)
        self._db.execute("PRAGMA synchronous=FULL")  # a checkpoint must survive a power cut
        self._migrate()

    def _use_wal(self, deadline: float) -> None:
        """Switch the file to write-ahead logging. SQLite answers "database is locked" at once, without
        waiting on the busy timeout, when another connection opens a new file at the same moment (two
        ``heron run --parallel`` workers), so the switch is retried until the deadline."""
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> RunStore:
        return cls(data_dir / "runs.sqlite3")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)")
            applied = {row[0] for row in db.execute("SELECT name FROM migrations")}
            for name, migration in MIGRATIONS:
                if name not in applied:
                    migration(db)
                    db.execute("INSERT INTO migrations VALUES (?, ?)", (name, time.time()))

    def applied_migrations(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT name FROM migrations ORDER BY name")]

    # -- runs ---------------------------------------------------------------------------------------

    def create_run(self, run_id: str, task_name: str, task_path: str, goal: str) -> None:
        now = time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (id, task_name, task_path, goal, status, created, updated) "
                "VALUES (?,?,?,?,?,?,?)",
                (run_id, task_name, task_path, goal, "running", now, now),
            )

    def checkpoint(self, state: RunState, kv_state: str | None = None) -> None:
        """Store the state after a finished step (replacing an earlier one of the same step)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO checkpoints (run_id, step, created, state) VALUES (?,?,?,?)",
                (state.run_id, state.step, time.time(), state.model_dump_json()),
            )
            db.execute(
                "UPDATE runs SET updated = ?, kv_state = COALESCE(?, kv_state) WHERE id = ?",
                (time.time(), kv_state, state.run_id),
            )

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        exit_code: int,
        *,
        answer: str | None = None,
        error: str | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status=?, exit_code=?, answer=?, error=?, outcome=?, updated=? WHERE id=?",
                (
                    status,
                    exit_code,
                    answer,
                    error,
                    json.dumps(outcome) if outcome else None,
                    time.time(),
                    run_id,
                ),
            )

    def set_status(self, run_id: str, status: RunStatus) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET status=?, updated=? WHERE id=?", (status, time.time(), run_id))

    def latest_state(self, run_id: str) -> RunState | None:
        row = self._db.execute(
            "SELECT state FROM checkpoints WHERE run_id = ? ORDER BY step DESC LIMIT 1", (run_id,)
        ).fetchone()
        return RunState.model_validate_json(row[0]) if row else None

    def get(self, run_id: str) -> RunRecord:
        rows = self._db.execute(
            "SELECT r.*, (SELECT MAX(step) FROM checkpoints c WHERE c.run_id = r.id) AS steps "
            "FROM runs r WHERE r.id = ? OR r.id LIKE ? ORDER BY created DESC",
            (run_id, run_id + "%"),
        ).fetchall()
        if not rows:
            raise UsageError(f"no run with id {run_id!r}", "list runs with `heron runs`")
        if len(rows) > 1 and rows[0]["id"] != run_id:
            raise UsageError(
                f"run id prefix {run_id!r} is ambiguous ({len(rows)} runs)", "give more characters"
            )
        return _record(rows[0])

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT r.*, (SELECT MAX(step) FROM checkpoints c WHERE c.run_id = r.id) AS steps "
            "FROM runs r ORDER BY created DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [_record(r) for r in rows]


def _record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    data["outcome"] = json.loads(data["outcome"]) if data.get("outcome") else None
    data["steps"] = data.get("steps") or 0
    return RunRecord.model_validate(data)
