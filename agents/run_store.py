"""Runs and their step checkpoints, in SQLite (the embedded default, ``<data_dir>/runs.sqlite3``) or in
PostgreSQL (``run_store = "postgresql://..."``), so that any node of a cluster can resume any run.

Both go through SQLAlchemy Core: one set of queries and one set of migrations for both databases.
The schema evolves through heron's own named, append-only migrations: a released migration is never
edited; a change is a new function at the end of ``MIGRATIONS``. Applied names are kept in
``migrations``. Checkpoints are JSON (``RunState``), never pickle.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Connection, Engine

from heron.agents.state import RunState
from heron.errors import RunTakenOverError, UsageError
from heron.status import FINISHED, StoredStatus

RunStatus = StoredStatus  # one vocabulary: heron.status
SQLITE_FILE = "runs.sqlite3"
SERVED_PREFIX = "api:"  # the task_name of a run `heron serve` served: this prefix and its profile's name


def this_node() -> str:
    """The name a run records as where it ran: the host name (a Ray worker adds its node id)."""
    return socket.gethostname()


def _run_all(db: Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.exec_driver_sql(statement)


# DOUBLE PRECISION: a 64-bit float on both (SQLite gives it the same REAL affinity as before)
def _m001_runs_and_checkpoints(db: Connection) -> None:
    _run_all(
        db,
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            task_name TEXT NOT NULL,
            task_path TEXT NOT NULL,
            goal TEXT NOT NULL,
            status TEXT NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            updated DOUBLE PRECISION NOT NULL,
            answer TEXT,
            error TEXT
        );
        CREATE TABLE checkpoints (
            run_id TEXT NOT NULL REFERENCES runs(id),
            step INTEGER NOT NULL,
            created DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (run_id, step)
        )
        """,
    )


def _m002_run_outcome(db: Connection) -> None:
    # outcome: JSON of checks, stopped_by, citations, artifacts; kv_state: path of the latest KV cache
    _run_all(
        db,
        """
        ALTER TABLE runs ADD COLUMN exit_code INTEGER;
        ALTER TABLE runs ADD COLUMN outcome TEXT;
        ALTER TABLE runs ADD COLUMN kv_state TEXT
        """,
    )


def _m003_run_node(db: Connection) -> None:
    # node: where the run ran last (host, and Ray node on a cluster); a KV state file is only used there
    _run_all(db, "ALTER TABLE runs ADD COLUMN node TEXT")


def _m004_run_attempt_and_kv_node(db: Connection) -> None:
    # attempt: raised by every process that takes the run up (start, resume, a cluster retry); a
    # write of an older attempt is refused, so two processes never both drive one run.
    # kv_node: the node that saved kv_state (``node`` is where the run ran last, which may differ)
    _run_all(
        db,
        """
        ALTER TABLE runs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE runs ADD COLUMN kv_node TEXT;
        UPDATE runs SET kv_node = node WHERE kv_state IS NOT NULL
        """,
    )


MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("001_runs_and_checkpoints", _m001_runs_and_checkpoints),
    ("002_run_outcome", _m002_run_outcome),
    ("003_run_node", _m003_run_node),
    ("004_run_attempt_and_kv_node", _m004_run_attempt_and_kv_node),
]

_meta = sa.MetaData()
_runs = sa.Table(
    "runs",
    _meta,
    *(sa.Column(name) for name in ("id", "task_name", "task_path", "goal", "status", "created")),
    *(sa.Column(name) for name in ("updated", "answer", "error", "exit_code", "outcome", "kv_state", "node")),
    sa.Column("attempt"),
    sa.Column("kv_node"),
)
_checkpoints = sa.Table(
    "checkpoints", _meta, sa.Column("run_id"), sa.Column("step"), sa.Column("created"), sa.Column("state")
)
_MIGRATION_LOCK = 7_351_984_202  # PostgreSQL advisory lock: one process migrates at a time


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
    node: str | None = None
    kv_node: str | None = None
    attempt: int = 0
    steps: int = 0

    @property
    def kind(self) -> str:
        """``api`` for a run `heron serve` served, ``task`` for a task file's run."""
        return "api" if self.task_name.startswith(SERVED_PREFIX) else "task"

    @property
    def name(self) -> str:
        """The task's name, or the profile that served the run."""
        return self.task_name.removeprefix(SERVED_PREFIX)


def store_url(location: str | Path) -> str:
    """The SQLAlchemy URL of a store location: a ``postgresql://`` URL (driven by psycopg 3), a
    ``sqlite:///`` URL, or the path of a SQLite file."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if text.startswith(("postgresql+", "sqlite:")):
        return text
    if "://" in text:
        raise UsageError(
            f"run store {text!r}: not a database heron stores runs in",
            "give a postgresql://USER@HOST:PORT/DATABASE URL or the path of a SQLite file",
        )
    return f"sqlite:///{Path(text).expanduser()}"


def configured_store_url(settings: Any) -> str:
    """The URL of the configured store, the same from any directory (a SQLite file by its absolute
    path): ``settings.run_store``, else ``<data_dir>/runs.sqlite3``. Cluster workers get this one."""
    location = settings.run_store or str(settings.data_dir.expanduser() / SQLITE_FILE)
    if "://" not in location:
        location = str(Path(location).expanduser().resolve())
    return store_url(location)


def describe_location(url: str) -> str:
    """The store's URL without its password, for messages and `heron doctor`."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:  # not a URL at all: shown up to its first "@" (no password)
        return url.split("@")[-1] if "@" in url else url


class RunStore:
    """The store of runs; its connections are closed with ``close()`` or ``with``.

    ``location``: the path of a SQLite file, or a ``postgresql://`` URL."""

    def __init__(self, location: str | Path) -> None:
        self.url = store_url(location)
        self.path: Path | None = None
        try:
            if self.url.startswith("sqlite:"):
                self.path = Path(sa.make_url(self.url).database or "")
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._engine = _sqlite_engine(self.url)
            else:
                self._engine = _postgresql_engine(self.url)
            self._migrate()
        except ImportError as exc:  # a dialect heron does not drive, its driver not installed
            raise UsageError(
                f"cannot open the run store {describe_location(self.url)}: its database driver is not "
                f"installed ({exc})",
                "give a postgresql://USER@HOST:PORT/DATABASE URL (heron drives it with psycopg, "
                "pip install 'heron[cluster]') or the path of a SQLite file as run_store (HERON_RUN_STORE)",
            ) from exc
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            raise UsageError(
                f"cannot open the run store {describe_location(self.url)}: {_first_line(exc)}",
                "check run_store (HERON_RUN_STORE) or the data dir: the file's folder must be writable, "
                "a PostgreSQL URL reachable with its user's rights (`heron doctor`)",
            ) from exc

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> RunStore:
        return cls(data_dir / SQLITE_FILE)

    @classmethod
    def from_settings(cls, settings: Any) -> RunStore:
        """The configured store: ``settings.run_store`` (a URL or a path), else SQLite in the data dir."""
        return cls(configured_store_url(settings))

    @property
    def backend(self) -> str:
        return str(self._engine.dialect.name)  # "sqlite" or "postgresql"

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._engine.connect().execution_options(heron_write=True) as db, db.begin():
            yield db  # on SQLite a write transaction starts with BEGIN IMMEDIATE (see _sqlite_engine)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._database_errors(), self._write() as db:
            yield db

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._database_errors(), self._engine.connect() as db:
            yield db

    @contextmanager
    def _database_errors(self) -> Iterator[None]:
        """A database error of the open store (the server gone, a table or a right taken away) is a
        UsageError that names the store, not a driver's traceback."""
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise UsageError(
                f"the run store {describe_location(self.url)} failed: {_first_line(exc)}",
                "check that the database is up and that run_store's user may read and write heron's "
                "tables (`heron doctor`)",
            ) from exc

    def _migrate(self) -> None:
        with self._write() as db:
            if self.backend == "postgresql":  # two nodes opening a new database at once
                db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            db.exec_driver_sql(
                "CREATE TABLE IF NOT EXISTS migrations "
                "(name TEXT PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
            )
            applied = {row[0] for row in db.exec_driver_sql("SELECT name FROM migrations")}
            for name, migration in MIGRATIONS:
                if name not in applied:
                    migration(db)
                    db.execute(
                        sa.text("INSERT INTO migrations (name, applied) VALUES (:name, :now)"),
                        {"name": name, "now": time.time()},
                    )

    def applied_migrations(self) -> list[str]:
        with self._reading() as db:
            return [row[0] for row in db.exec_driver_sql("SELECT name FROM migrations ORDER BY name")]

    # -- runs ---------------------------------------------------------------------------------------

    def create_run(
        self, run_id: str, task_name: str, task_path: str, goal: str, *, node: str | None = None
    ) -> int:
        """Record a new run; returns its attempt number (1), which fences its later writes."""
        now = time.time()
        with self._transaction() as db:
            db.execute(
                _runs.insert().values(
                    id=run_id,
                    task_name=task_name,
                    task_path=task_path,
                    goal=goal,
                    status="running",
                    created=now,
                    updated=now,
                    node=node or this_node(),
                    attempt=1,
                )
            )
        return 1

    def claim(self, run_id: str, *, node: str | None = None) -> int | None:
        """Take the run up in this process (a resume, a cluster retry): status ``running``, ``node``
        where it continues, and a new attempt number, returned (None: the run has finished, nothing
        changed). From then on a write that gives an older attempt (a worker that was presumed dead)
        raises RunTakenOverError and changes nothing. Read the run's checkpoints after claiming it."""
        with self._transaction() as db:
            claimed = db.execute(
                _runs.update()
                .where(_runs.c.id == run_id, _runs.c.status.not_in(sorted(FINISHED)))
                .values(
                    attempt=_runs.c.attempt + 1,
                    status="running",
                    node=node or this_node(),
                    updated=time.time(),
                )
            ).rowcount
            attempt = db.execute(sa.select(_runs.c.attempt).where(_runs.c.id == run_id)).scalar_one_or_none()
        if attempt is None:
            raise UsageError(f"no run with id {run_id!r}", "list runs with `heron runs`")
        return int(attempt) if claimed else None

    def _update_run(self, db: Connection, run_id: str, attempt: int | None, values: dict[str, Any]) -> None:
        """Update one run; with ``attempt``, only if no later attempt took the run over (else the
        transaction is rolled back by the error)."""
        query = _runs.update().where(_runs.c.id == run_id)
        if attempt is not None:
            query = query.where(_runs.c.attempt == attempt)
        if db.execute(query.values(**values)).rowcount == 0 and attempt is not None:
            now = db.execute(sa.select(_runs.c.attempt, _runs.c.node).where(_runs.c.id == run_id)).first()
            raise RunTakenOverError(
                f"run {run_id} was taken over by attempt {now[0] if now else '?'}"
                f" on {now[1] if now else '?'}; this process (attempt {attempt}) stopped driving it",
                "`heron runs` shows where it continues",
            )

    def checkpoint(
        self,
        state: RunState,
        kv_state: str | None = None,
        *,
        kv_node: str | None = None,
        attempt: int | None = None,
    ) -> None:
        """Store the state after a finished step (replacing an earlier one of the same step);
        ``kv_state``: the KV cache file saved with it, on ``kv_node``; ``attempt``: see ``claim``."""
        insert = self._upsert(_checkpoints).values(
            run_id=state.run_id, step=state.step, created=time.time(), state=state.model_dump_json()
        )
        insert = insert.on_conflict_do_update(
            index_elements=["run_id", "step"],
            set_={"created": insert.excluded.created, "state": insert.excluded.state},
        )
        with self._transaction() as db:
            # (the goal too: a run recorded before its task file loaded has none until its first step)
            values: dict[str, Any] = {"updated": time.time(), "goal": state.goal}
            if kv_state is not None:
                values |= {"kv_state": kv_state, "kv_node": kv_node or this_node()}
            self._update_run(db, state.run_id, attempt, values)  # first: it takes the row's lock
            db.execute(insert)

    def _upsert(self, table: sa.Table) -> Any:
        if self.backend == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def finish(
        self,
        run_id: str,
        status: RunStatus,
        exit_code: int,
        *,
        answer: str | None = None,
        error: str | None = None,
        outcome: dict[str, Any] | None = None,
        attempt: int | None = None,
    ) -> None:
        values = {
            "status": status,
            "exit_code": exit_code,
            "answer": answer,
            "error": error,
            "outcome": json.dumps(outcome) if outcome else None,
            "updated": time.time(),
        }
        with self._transaction() as db:
            self._update_run(db, run_id, attempt, values)

    def set_status(
        self, run_id: str, status: RunStatus, *, node: str | None = None, attempt: int | None = None
    ) -> None:
        """Change a run's status; ``node``: where it continues (a resume on another node)."""
        values: dict[str, Any] = {"status": status, "updated": time.time()}
        if node is not None:
            values["node"] = node
        with self._transaction() as db:
            self._update_run(db, run_id, attempt, values)

    def latest_state(self, run_id: str) -> RunState | None:
        query = (
            sa.select(_checkpoints.c.state)
            .where(_checkpoints.c.run_id == run_id)
            .order_by(_checkpoints.c.step.desc())
            .limit(1)
        )
        with self._reading() as db:
            row = db.execute(query).first()
        return RunState.model_validate_json(row[0]) if row else None

    def _records(self, where: Any, limit: int | None = None) -> list[RunRecord]:
        steps = (
            sa.select(sa.func.max(_checkpoints.c.step))
            .where(_checkpoints.c.run_id == _runs.c.id)
            .scalar_subquery()
            .label("steps")
        )
        query = sa.select(_runs, steps).order_by(_runs.c.created.desc())
        if where is not None:
            query = query.where(where)
        if limit is not None:
            query = query.limit(limit)
        with self._reading() as db:
            return [_record(dict(row._mapping)) for row in db.execute(query)]

    def find(self, run_id: str) -> RunRecord | None:
        """The run with exactly this id, or None (``get`` also takes a unique prefix)."""
        found = self._records(_runs.c.id == run_id)
        return found[0] if found else None

    def count_runs(self) -> int:
        with self._reading() as db:
            return int(db.execute(sa.select(sa.func.count()).select_from(_runs)).scalar_one())

    def get(self, run_id: str, unfinished: bool = False) -> RunRecord:
        """The run ``run_id`` names, exactly or as the prefix of one run's id; ``unfinished``: of the
        runs a prefix names, the one not finished (``heron resume task-name``), when it is one."""
        # substr, not LIKE: a prefix matches case-sensitively on SQLite and PostgreSQL alike
        prefix = sa.func.substr(_runs.c.id, 1, len(run_id)) == run_id
        records = self._records(sa.or_(_runs.c.id == run_id, prefix))
        if not records:
            raise UsageError(f"no run with id {run_id!r}", "list runs with `heron runs`")
        exact = [r for r in records if r.id == run_id]
        if exact:
            return exact[0]
        open_ones = [r for r in records if r.status not in FINISHED]
        if unfinished and len(open_ones) == 1:
            return open_ones[0]
        if len(records) > 1:
            listed = ", ".join(f"{r.id} ({r.status})" for r in records[:5])
            more = f" and {len(records) - 5} more" if len(records) > 5 else ""
            raise UsageError(
                f"run id prefix {run_id!r} names {len(records)} runs: {listed}{more}",
                "give one of the ids, or more of its characters",
            )
        return records[0]

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        return self._records(None, limit)


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = str(cause).strip()
    return text.splitlines()[0][:300] if text else type(cause).__name__


def _record(data: dict[str, Any]) -> RunRecord:
    data["outcome"] = json.loads(data["outcome"]) if data.get("outcome") else None
    data["steps"] = data.get("steps") or 0
    return RunRecord.model_validate(data)


def _sqlite_engine(url: str) -> Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # SQLAlchemy's BEGIN below, not the driver's implicit one
        _use_wal(dbapi, deadline=time.monotonic() + 30)
        dbapi.execute("PRAGMA synchronous=FULL")  # a checkpoint must survive a power cut

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # a write takes the lock at once (no deadlock upgrading a read lock later); a read does not
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("heron_write") else "BEGIN"
        )

    return engine


def _use_wal(dbapi: Any, deadline: float) -> None:
    """Switch the file to write-ahead logging. SQLite answers "database is locked" at once, without
    waiting on the busy timeout, when another connection opens a new file at the same moment (two
    ``heron run --parallel`` workers), so the switch is retried until the deadline."""
    import sqlite3

    while True:
        try:
            dbapi.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _postgresql_engine(url: str) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "a PostgreSQL run store needs the psycopg driver", "pip install 'heron[cluster]'"
        ) from exc
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        raise UsageError(
            f"cannot reach the run store {describe_location(url)}: {_first_line(exc)}",
            "start PostgreSQL, or check the host, port, user and database of run_store (docs/scale.md)",
        ) from exc
    return engine
