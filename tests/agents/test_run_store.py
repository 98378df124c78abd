"""The run store on both of its databases: SQLite (embedded default) and a real PostgreSQL server
started by the session fixture (tests/postgres_server.py). Every test here runs once per backend."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from heron.agents.run_store import MIGRATIONS, RunStore, store_url, this_node
from heron.agents.state import RunState
from heron.errors import RunTakenOverError, UsageError
from tests.postgres_server import PostgresServer


def test_migrations_are_applied_once_and_reopening_keeps_the_data(run_store_location: str) -> None:
    with RunStore(run_store_location) as store:
        assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
        store.create_run("r1", "t", "/t.yaml", "goal", node="node-a")
        store.checkpoint(RunState(run_id="r1", goal="goal", step=1))
        store.checkpoint(RunState(run_id="r1", goal="goal", step=2), kv_state="/kv/r1.state")
    with RunStore(run_store_location) as store:  # reopening applies nothing twice and keeps the data
        assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
        record = store.get("r1")
        assert (record.status, record.steps, record.node, record.kv_state, record.kv_node) == (
            "running",
            2,
            "node-a",
            "/kv/r1.state",
            this_node(),
        )
        latest = store.latest_state("r1")
        assert latest is not None and latest.step == 2


def test_a_checkpoint_of_the_same_step_replaces_the_earlier_one(run_store_location: str) -> None:
    with RunStore(run_store_location) as store:
        store.create_run("r1", "t", "/t.yaml", "goal")
        store.checkpoint(RunState(run_id="r1", goal="goal", step=3, step_results=["first"]))
        store.checkpoint(RunState(run_id="r1", goal="goal", step=3, step_results=["second"]))
        latest = store.latest_state("r1")
        assert latest is not None and (latest.step, latest.step_results) == (3, ["second"])
        assert store.get("r1").steps == 3


def test_finish_status_outcome_and_timestamps_round_trip(run_store_location: str) -> None:
    with RunStore(run_store_location) as store:
        store.create_run("task-aa11", "task", "/task.yaml", "goal")
        created = store.get("task-aa11").created
        store.finish("task-aa11", "succeeded", 0, answer="42", outcome={"checks": [{"passed": True}]})
        record = store.get("task-aa11")
        assert (record.status, record.exit_code, record.answer) == ("succeeded", 0, "42")
        assert record.outcome == {"checks": [{"passed": True}]}
        # 64-bit timestamps: a 32-bit float would round today's epoch to a multiple of 128 s
        assert record.updated >= created and created % 1 != 0  # sub-second: a 32-bit float keeps none
        store.set_status("task-aa11", "interrupted", node="node-b")
        assert (store.get("task-aa11").status, store.get("task-aa11").node) == ("interrupted", "node-b")


def test_prefixes_find_a_run_and_an_ambiguous_or_unknown_id_is_explained(run_store_location: str) -> None:
    with RunStore(run_store_location) as store:
        store.create_run("report-1234", "report", "/r.yaml", "goal")
        store.create_run("report-1299", "report", "/r.yaml", "goal")
        store.create_run("a_b-1", "a_b", "/a.yaml", "goal")
        assert store.get("report-123").id == "report-1234"
        with pytest.raises(UsageError, match="no run"):  # case-sensitive on both databases
            store.get("REPORT-123")
        with pytest.raises(
            UsageError, match=r"names 2 runs: report-1299 \(running\), report-1234 \(running\)"
        ):
            store.get("report-12")
        # `heron resume report` after one of the two finished: the prefix names the one left to resume
        store.set_status("report-1234", "succeeded")
        assert store.get("report-12", unfinished=True).id == "report-1299"
        with pytest.raises(UsageError, match="names 2 runs"):
            store.get("report-12")  # any run, finished or not: still two
        with pytest.raises(UsageError, match="no run with id 'nothing'"):
            store.get("nothing")
        with pytest.raises(UsageError, match="no run"):  # LIKE wildcards in an id are plain characters
            store.get("a%")
        assert [r.id for r in store.list_runs(limit=2)] == ["a_b-1", "report-1299"]


def test_stores_opened_at_once_on_a_new_database_all_open(run_store_location: str, tmp_path: Path) -> None:
    # `heron run --parallel` and cluster workers open one store each; on a new SQLite file the switch to
    # WAL answers "database is locked" at once (retried), on PostgreSQL the migration takes a lock
    locations = [run_store_location]
    if run_store_location.endswith(".sqlite3"):
        locations = [str(tmp_path / f"{attempt}.sqlite3") for attempt in range(60)]
    for location in locations:
        errors: list[Exception] = []

        def open_store(location: str = location, errors: list[Exception] = errors) -> None:
            try:
                RunStore(location).close()
            except Exception as error:
                errors.append(error)

        workers = [threading.Thread(target=open_store) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        with RunStore(location) as store:
            assert store.applied_migrations() == [name for name, _ in MIGRATIONS]


def test_a_database_of_an_older_heron_is_brought_up_to_date(tmp_path: Path) -> None:
    # the schema exactly as the first release wrote it (SQLite only: PostgreSQL support is new)
    old = tmp_path / "old.sqlite3"
    db = sqlite3.connect(old)
    db.executescript(
        """
        CREATE TABLE migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL);
        CREATE TABLE runs (id TEXT PRIMARY KEY, task_name TEXT NOT NULL, task_path TEXT NOT NULL,
            goal TEXT NOT NULL, status TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
            answer TEXT, error TEXT);
        CREATE TABLE checkpoints (run_id TEXT NOT NULL REFERENCES runs(id), step INTEGER NOT NULL,
            created REAL NOT NULL, state TEXT NOT NULL, PRIMARY KEY (run_id, step));
        INSERT INTO migrations VALUES ('001_runs_and_checkpoints', 0);
        INSERT INTO runs VALUES ('old-1', 'old', '/old.yaml', 'goal', 'succeeded', 1.5, 2.5, 'yes', NULL);
        """
    )
    db.close()
    with RunStore(old) as store:
        assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
        record = store.get("old-1")
        assert (record.answer, record.node, record.exit_code) == ("yes", None, None)


def test_a_location_that_is_no_database_is_refused_with_the_fix() -> None:
    with pytest.raises(UsageError, match="postgresql://USER@HOST"):
        store_url("mysql://somewhere/db")
    assert store_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"


def test_an_unreachable_postgresql_server_is_named_without_its_password() -> None:
    from tests.postgres_server import free_port

    with pytest.raises(UsageError, match="cannot reach the run store") as caught:
        RunStore(f"postgresql://heron:secret@127.0.0.1:{free_port()}/runs")
    assert "secret" not in str(caught.value) and "***" in str(caught.value)


def test_a_run_taken_over_by_a_later_attempt_refuses_the_earlier_ones_writes(run_store_location: str) -> None:
    # a worker presumed dead (a network partition) must not write over the worker that took its run up
    with RunStore(run_store_location) as store:
        first = store.create_run("r1", "t", "/t.yaml", "goal", node="node-a")
        store.checkpoint(
            RunState(run_id="r1", goal="goal", step=1), kv_state="/kv/a", kv_node="node-a", attempt=first
        )
        second = store.claim("r1", node="node-b")
        assert (first, second) == (1, 2)
        record = store.get("r1")
        assert (record.status, record.node, record.attempt, record.kv_node) == (
            "running",
            "node-b",
            2,
            "node-a",
        )
        with pytest.raises(RunTakenOverError, match="taken over by attempt 2 on node-b"):
            store.checkpoint(RunState(run_id="r1", goal="goal", step=2), kv_state="/kv/x", attempt=first)
        with pytest.raises(RunTakenOverError):
            store.finish("r1", "succeeded", 0, answer="stale", attempt=first)
        with pytest.raises(RunTakenOverError):
            store.set_status("r1", "interrupted", attempt=first)
        record = store.get("r1")  # nothing of the stale attempt landed, its checkpoint rolled back
        assert (record.status, record.steps, record.answer, record.kv_state) == ("running", 1, None, "/kv/a")
        store.checkpoint(RunState(run_id="r1", goal="goal", step=2), attempt=second)
        store.finish("r1", "succeeded", 0, answer="42", attempt=second)
        assert (store.get("r1").status, store.get("r1").steps) == ("succeeded", 2)
        assert store.claim("r1", node="node-c") is None  # a finished run is not taken up again
        assert (store.get("r1").status, store.get("r1").attempt) == ("succeeded", 2)
        with pytest.raises(UsageError, match="no run with id 'nothing'"):
            store.claim("nothing")


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("/proc/no-such-folder/runs.sqlite3", "No such file or directory"),
        ("postgresql+nodriver://heron@127.0.0.1/runs", "Can't load plugin"),
    ],
)
def test_a_store_that_cannot_be_opened_is_a_usage_error_with_the_fix(location: str, says: str) -> None:
    with pytest.raises(UsageError, match="cannot open the run store") as caught:
        RunStore(location)
    assert says in str(caught.value) and "HERON_RUN_STORE" in str(caught.value)


def test_a_file_that_is_no_database_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "runs.sqlite3"
    junk.write_bytes(b"not a database, " * 100)
    with pytest.raises(UsageError, match="file is not a database"):
        RunStore(junk)
    assert junk.read_bytes() == b"not a database, " * 100  # and it is left as it was


def test_a_database_driver_that_is_not_installed_is_a_usage_error_with_the_fix() -> None:
    with pytest.raises(UsageError, match="its database driver is not installed") as caught:
        RunStore("postgresql+pg8000://heron@127.0.0.1/runs")
    assert "pg8000" in caught.value.problem and "psycopg" in (caught.value.hint or "")


def test_a_postgresql_user_without_rights_on_the_store_is_told_so(postgres: PostgresServer) -> None:
    owned = postgres.new_database()
    RunStore(owned).close()
    visitor = f"visitor_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(store_url(owned))
    with engine.begin() as db:
        db.exec_driver_sql(f"CREATE ROLE {visitor} LOGIN")
    engine.dispose()
    with pytest.raises(UsageError, match=r"cannot open the run store .*permission denied") as caught:
        RunStore(owned.replace("://heron@", f"://{visitor}@"))
    assert "user's rights" in (caught.value.hint or "")


def test_a_database_that_fails_once_open_is_a_usage_error_naming_the_store(run_store_location: str) -> None:
    with RunStore(run_store_location) as store:
        store.create_run("r1", "t", "/t.yaml", "goal")
        engine = sa.create_engine(store.url)
        with engine.begin() as db:  # (a table taken away behind the store's back)
            db.exec_driver_sql("DROP TABLE checkpoints")
        engine.dispose()
        with pytest.raises(UsageError, match=r"the run store .* failed: .*checkpoints") as caught:
            store.latest_state("r1")
        assert "`heron doctor`" in (caught.value.hint or "")
        with pytest.raises(UsageError, match="failed"):  # a write too
            store.checkpoint(RunState(run_id="r1", goal="goal", step=1))
