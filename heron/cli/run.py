"""Task automation commands: ``heron run``, ``heron resume``, ``heron runs``, ``heron trace``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from heron.cli.app import app
from heron.config import load_settings
from heron.errors import HeronError, UsageError
from heron.status import CUT_NOTE, calls_in_doubt, describe, unsourced_note

if TYPE_CHECKING:
    from heron.agents.run_store import RunRecord

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _event_printer(quiet: bool) -> Any:
    from heron.cli.render import render_event

    def show(event: Any) -> None:
        if not quiet:
            line = render_event(event)
            if line:
                err.print(line, highlight=False)

    return show


@app.command()
def run(
    task_files: list[Path] = typer.Argument(
        ..., help="One or more task files (YAML); run one after another (or --parallel)."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Approve every risky tool (python, write_file) unasked."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per task on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print events while running."),
    model: Path | None = typer.Option(
        None, "--model", help="GGUF file to use instead of the configured one."
    ),
    parallel: int = typer.Option(
        1,
        "--parallel",
        "-p",
        min=1,
        help="Run this many task files at once. Needs a model served over HTTP (HERON_LLM_BASE_URL, "
        "e.g. a llama.cpp server): one in-process model runs one call at a time.",
    ),
    cluster: str | None = typer.Option(
        None,
        "--cluster",
        metavar="ADDRESS",
        envvar="HERON_RAY_ADDRESS",
        help="Run the files on the Ray cluster at ADDRESS (host:port of `ray start --head`), on a pool of "
        "workers that keep the model loaded; a task whose worker dies is resumed on another. Set "
        "run_store to a PostgreSQL URL for a cluster of several machines (docs/scale.md).",
    ),
) -> None:
    """Run task files unattended. Every file is validated before anything runs; each step is
    checkpointed, so a killed run continues with `heron resume RUN_ID`.

    Exit code: 0 all succeeded, 1 a run or its checks failed, 2 invalid task file, 3 budget ended a run."""
    from concurrent.futures import ThreadPoolExecutor

    from heron.agents.runner import TaskRunner
    from heron.agents.tasks import load_task
    from heron.errors import TaskFileError

    problems: list[TaskFileError] = []
    for path in task_files:  # all files valid before the first runs; every file's problems told at once
        try:
            load_task(path)
        except TaskFileError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        hints = list(dict.fromkeys(p.hint for p in problems if p.hint))
        raise TaskFileError("\n".join(p.problem for p in problems), "; ".join(hints))
    settings = load_settings(**({"model_path": model} if model else {}))
    printer = _event_printer(quiet or as_json)
    if cluster:
        outcomes = _run_on_cluster(cluster, settings, task_files, yes, quiet or as_json, as_json)
        raise typer.Exit(max(o.exit_code for o in outcomes))
    if parallel > 1 and not settings.llm_base_url:
        raise UsageError(
            "--parallel needs a model served over HTTP: one in-process model runs one call at a time",
            "start a server (python -m heron.llm.serve --model FILE.gguf --port 8080), set "
            "HERON_LLM_BASE_URL=http://127.0.0.1:8080/v1, or drop --parallel",
        )

    def ingested(summary: str) -> None:
        err.print(f"ingested: {summary}", highlight=False)

    if parallel > 1:

        def run_one(path: Path) -> Any:
            # one runner per worker: its own HTTP client and its own run-store connection
            with TaskRunner(settings, approve_everything=yes, callbacks=[printer]) as runner:
                return runner.run(path, on_ingest=ingested)

        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="heron-task") as pool:
            outcomes = list(pool.map(run_one, task_files))
    else:
        with TaskRunner(settings, approve_everything=yes, callbacks=[printer]) as runner:
            outcomes = [runner.run(path, on_ingest=ingested) for path in task_files]
    for outcome in outcomes:
        _print_outcome(outcome, as_json)
    raise typer.Exit(max(o.exit_code for o in outcomes))


def _run_on_cluster(
    address: str, settings: Any, task_files: list[Path], yes: bool, quiet: bool, as_json: bool
) -> list[Any]:
    """``heron run --cluster``: the files on a Ray worker pool; events and outcomes as they arrive."""
    from heron.agents.cluster import ClusterPool, TaskEvent
    from heron.cli.render import render_event

    names = [path.stem for path in task_files]

    def show(arrived: TaskEvent) -> None:
        line = render_event(arrived.event)
        if line and not quiet:
            err.print(f"[cyan]{escape(names[arrived.index])}[/] [dim]@{escape(arrived.node)}[/] {line}")

    err.print(f"cluster {address}: starting workers (each loads the model once)", highlight=False)

    def notice(text: str) -> None:
        if not quiet:
            err.print(f"[yellow]cluster:[/] {escape(text)}", highlight=False)

    with ClusterPool(address, settings, on_notice=notice) as pool:
        where = ", ".join(sorted({node for _, node in pool.workers}))
        err.print(f"{len(pool.workers)} workers on {where}", highlight=False)
        return pool.run_tasks(
            task_files,
            approve_everything=yes,
            on_event=show,
            on_outcome=lambda _, outcome: _print_outcome(outcome, as_json),
        )


@app.command()
def resume(
    run_id: str = typer.Argument(..., help="The run to continue (a unique prefix is enough)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Approve every risky tool unasked."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print events while running."),
) -> None:
    """Continue a killed or interrupted run from its last finished step; finished tool calls are not
    run again."""
    from heron.agents.run_store import RunStore
    from heron.agents.runner import TaskRunner

    settings = load_settings()
    with RunStore.from_settings(settings) as store:
        record = store.get(run_id, unfinished=True)  # the prefix is resolved once, here
    ran_on = record.node or ""
    if "/" in ran_on:  # a cluster worker's run: its workspace and trace are where the workers keep them
        from heron.agents.cluster_worker import worker_settings

        settings = worker_settings(settings)
    with TaskRunner(settings, approve_everything=yes, callbacks=[_event_printer(quiet or as_json)]) as runner:
        outcome = runner.resume(record.id)
        _print_outcome(outcome, as_json)
    raise typer.Exit(outcome.exit_code)


@app.command()
def runs(
    limit: int = typer.Option(20, help="How many recent runs to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List recent runs, newest first: task runs (`heron run`) with their status, and the agent (SDK)
    and chat runs that left a trace under <data_dir>/traces."""
    from heron.agents.run_store import RunStore, this_node

    settings = load_settings()
    data_dir = settings.data_dir.expanduser()
    with RunStore.from_settings(settings) as store:
        records = store.list_runs(limit)
        rows = [
            _RunRow(
                r.id,
                r.kind,
                r.created,
                describe(r.status, str((r.outcome or {}).get("stopped_by", ""))),
                r.steps,
                _record_title(r) + (f" (on {r.node})" if r.node and r.node != this_node() else ""),
                r.model_dump(),
            )
            for r in records
        ]
        rows += _trace_only_rows(data_dir / "traces", store, limit)
    rows = sorted(rows, key=lambda row: row.started, reverse=True)[:limit]
    if as_json:
        typer.echo(json.dumps([row.as_json() for row in rows], indent=2))
        return
    if not rows:
        typer.echo("no runs yet: start one with `heron run TASK.yaml`")
        return
    console.print(f"{'STARTED':<19} {'RUN ID':<32} {'KIND':<5} {'STATUS':<28} {'STEPS':>5}  TASK OR GOAL")
    for row in rows:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.started))
        console.print(
            f"{started:<19} {row.id:<32} {row.kind:<5} {row.status:<28} {row.steps:>5}  {escape(row.title)}",
            highlight=False,
        )


@dataclass(frozen=True)
class _RunRow:
    id: str
    # task (a task file's, in the run store), api (served by `heron serve`, in the run store),
    # agent (an SDK run), chat (a conversation: `heron chat`, or a ChatSession of several messages)
    kind: str
    started: float
    status: str
    steps: int
    title: str
    record: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        base = {"id": self.id, "kind": self.kind, "started": self.started, "status": self.status}
        return base | {"steps": self.steps, "title": self.title} | (self.record or {})


def _record_title(record: RunRecord) -> str:
    """A task run's task; a served run's profile and request (the profile alone says little)."""
    if record.kind == "api":
        return f"{record.name}: {_one_line(record.goal)}"
    return record.task_name


def _one_line(text: str, width: int = 80) -> str:
    return text.replace("\n", " ")[:width]


def _trace_only_rows(traces: Path, store: Any, limit: int) -> list[_RunRow]:
    """Runs that have a trace but no run-store record: SDK and chat runs. Only the newest ``limit``
    such files are read."""
    files = sorted(traces.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    rows: list[_RunRow] = []
    for path in files:
        if len(rows) >= limit:
            break
        if store.find(path.stem) is not None:  # a task run: listed from the store
            continue
        row = _trace_row(path)
        if row is not None:
            rows.append(row)
    return rows


def _trace_row(path: Path) -> _RunRow | None:
    from heron.tracing import summarize_trace

    summary = summarize_trace(path)
    if summary is None or summary.parent:
        return None  # unreadable or empty (`heron trace` explains those), or a sub-agent's (in its caller's)
    more = ""
    if summary.messages > 1:  # the status is the last message's: say how the others ended too
        failed = f", {summary.unsucceeded} not succeeded" if summary.unsucceeded else ""
        more = f" (+{summary.messages - 1} more messages{failed})"
    return _RunRow(
        id=summary.run_id,
        kind=summary.kind,
        started=summary.started or path.stat().st_mtime,
        status=describe(summary.status, summary.stopped_by),
        steps=summary.steps,
        title=_one_line(summary.goal) + more,
    )


@app.command()
def trace(
    run_id: str = typer.Argument(..., help="A run id (see `heron runs`), `last`, or a trace file path."),
    as_json: bool = typer.Option(False, "--json", help="Print the raw events as JSON lines."),
) -> None:
    """Show a run's trace readably: plan, model turns (tokens, cache reuse, time), tool calls and
    results, retrieved passages, approvals, the answer with citations."""
    from heron.cli.render import render_event
    from heron.tracing import read_trace, trace_path

    settings = load_settings()
    path = Path(run_id)
    # a cluster's workers write their traces under cluster.shared_dir
    roots = [settings.data_dir.expanduser()]
    if settings.cluster.shared_dir is not None:
        roots.append(settings.cluster.shared_dir.expanduser())
    if run_id == "last":
        found = sorted(
            (f for root in roots for f in (root / "traces").glob("*.jsonl")), key=lambda p: p.stat().st_mtime
        )
        if not found:
            raise UsageError("no traces yet", "run something first: heron run TASK.yaml")
        path = found[-1]
    if not path.is_file():
        path = next(
            (trace_path(root, run_id) for root in roots if trace_path(root, run_id).is_file()),
            trace_path(roots[0], run_id),
        )
        if not path.is_file():
            matches = sorted(f for root in roots for f in (root / "traces").glob(f"{run_id}*.jsonl"))
            if len(matches) != 1:
                raise UsageError(
                    f"no single trace for {run_id!r} ({len(matches)} matches)", "list runs with `heron runs`"
                )
            path = matches[0]
    depth: dict[str, int] = {}  # a sub-agent's run (run_started names its parent) is indented under it
    for event in read_trace(path):
        if as_json:
            typer.echo(event.model_dump_json())
            continue
        if event.type == "run_started":
            depth[event.run_id] = depth.get(event.parent_run_id or "", -1) + 1
        line = render_event(event, verbose=True)
        if line:
            indent = "  [dim]│[/] " * depth.get(event.run_id, 0)
            console.print("\n".join(indent + part for part in line.split("\n")), highlight=False)


def _print_outcome(outcome: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(outcome.model_dump_json())
        return
    colour = "green" if outcome.exit_code == 0 else "red"
    status = describe(outcome.status, outcome.stopped_by)
    where = f" on {outcome.node}" if outcome.node and "/" in outcome.node else ""  # a cluster worker
    failed = calls_in_doubt(outcome.failed_calls, outcome.denied_calls, separator=", ")
    console.print(
        f"[bold {colour}]{status}[/] run {outcome.run_id} "
        f"({outcome.steps} step{'s' * (outcome.steps != 1)}{failed}{escape(where)})"
    )
    if outcome.answer:
        console.print(f"[bold]answer:[/] {escape(outcome.answer)}", highlight=False)
        if outcome.answer_cut:
            console.print(f"  [yellow]{CUT_NOTE}[/]", highlight=False)
        if outcome.unsourced_numbers:
            console.print(
                f"  [yellow]{escape(unsourced_note(outcome.unsourced_numbers))}[/]", highlight=False
            )
    elif outcome.stopped_by:
        console.print(
            f"[bold]answer:[/] none ({escape(outcome.note or 'the model gave no answer')})", highlight=False
        )
    for c in outcome.citations:
        console.print(f"  [cyan]\\[{escape(c['id'])}][/] {escape(c.get('source', ''))}", highlight=False)
    for check in outcome.checks:
        mark = "[green]pass[/]" if check.passed else "[red]fail[/]"
        console.print(f"  {mark} {check.check} {escape(check.detail)}", highlight=False)
    if outcome.error:
        console.print(f"[red]error:[/] {escape(outcome.error)}", highlight=False)
    console.print(
        f"  trace: heron trace {outcome.run_id}   workspace: {escape(str(outcome.workspace))}",
        highlight=False,
    )


__all__ = ["HeronError", "resume", "run", "runs", "trace"]
