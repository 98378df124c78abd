"""`heron eval`: hallucination and bias measurements of the configured (or a given) model.

heron eval truthfulqa --limit 100          # MC1/MC2 on 100 random questions
heron eval all --model ~/models/qwen.gguf  # every suite, JSON + HTML report under --out
heron eval compare a.json b.json           # several runs side by side in one HTML report
heron eval traces ~/.local/share/heron/traces   # groundedness of agent answers
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from heron.cli.app import app
from heron.config import Settings, load_settings
from heron.errors import UsageError

T = TypeVar("T")
console = Console()
progress_console = Console(stderr=True)

eval_app = typer.Typer(
    name="eval",
    help="Measure hallucination (HaluEval detectors, TruthfulQA) and bias (BBQ, counterfactual fairness, "
    "representation) of a local model on public data. Writes JSON results and an HTML report.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")

_MODEL = typer.Option(
    None,
    "--model",
    help="The model to evaluate: a name `heron models` lists or a GGUF file (default: the configured model).",
)
_LIMIT = typer.Option(
    None,
    "--limit",
    min=1,
    help="At most N items per dataset (per category for BBQ), drawn at random (seed 0).",
)
_OUT = typer.Option(
    None, "--out", help="Folder for the JSON result and HTML report (default: <data_dir>/evals)."
)
_DATA = typer.Option(
    None,
    "--data",
    help="Folder with bbq/, halueval/, truthfulqa/ (default: the evals.data_dir setting, ../shared/data).",
)
_SAMPLES = typer.Option(4, "--samples", min=2, help="Answers sampled per question for SelfCheck and entropy.")
_PAIRS = typer.Option(
    None,
    "--pairs",
    help="A HaluEval file to score instead of the data folder's QA pairs: QA, dialogue or "
    "summarization, JSON lines as upstream ships them (e.g. HaluEval's data/dialogue_data.json).",
)
_RESULTS = typer.Argument(..., help="Result .json files written by `heron eval`.")
_REPORT_OUT = typer.Option(Path("heron-eval-compare.html"), "--out", help="HTML file to write.")
_TRACES = typer.Argument(..., help="Trace files (.jsonl) or folders of them.")
_JUDGE = typer.Option(False, "--judge", help="Also judge each claim with the LLM (P(yes) from logprobs).")
_JSON = typer.Option(False, "--json", help="Print one JSON object per run.")
_CLUSTER = typer.Option(
    None,
    "--cluster",
    metavar="ADDRESS",
    envvar="HERON_RAY_ADDRESS",
    help="Share the items out over the workers of the Ray cluster at ADDRESS (TruthfulQA, BBQ); the "
    "results come back in order. A figure can differ from a local run's in its second or third decimal "
    "(docs/scale.md says why).",
)


def _settings(model: str | None) -> Settings:
    settings = load_settings(model=model, model_path=None) if model is not None else load_settings()
    settings.llm_model_path()  # a missing model file is reported now, not after the data is loaded
    return settings


def _progress_factory(progress: Progress) -> Callable[[Sequence[T], str], Iterator[T]]:
    """Progress bars for the eval loops: one bar per (items, description) the suites hand over."""

    def track(items: Sequence[T], description: str) -> Iterator[T]:
        task = progress.add_task(description, total=len(items))
        for item in items:
            yield item
            progress.advance(task)

    return track


def _command(
    suite: str,
    model: str | None,
    limit: int | None,
    data: Path | None,
    samples: int,
    halueval: Path | None = None,
    cluster: str | None = None,
) -> str:
    words = ["heron", "eval", suite]
    if halueval is not None:
        words += ["--pairs", str(halueval)]
    if model is not None:
        words += ["--model", str(model)]
    if limit is not None:
        words += ["--limit", str(limit)]
    if data is not None:
        words += ["--data", str(data)]
    if samples != 4 and suite in ("hallucination", "all"):
        words += ["--samples", str(samples)]
    if cluster is not None:
        words += ["--cluster", cluster]
    return shlex.join(words)


def _run(
    suite: str,
    model: str | None,
    limit: int | None,
    out: Path | None,
    data: Path | None,
    samples: int,
    cluster: str | None = None,
    halueval: Path | None = None,
) -> None:
    from heron.evals.report import write_report
    from heron.evals.results import save_run
    from heron.evals.session import EvalSession
    from heron.evals.suites import SUITE_NAMES, run_suites

    settings = _settings(model)
    names = SUITE_NAMES if suite == "all" else (suite,)
    if cluster and suite == "hallucination":  # its detectors sample answers here: nothing to share out
        progress_console.print(
            "the hallucination suite runs on this machine (--cluster shards TruthfulQA and BBQ)"
        )
        cluster = None
    run_name = f"{settings.llm_model_path().stem}-{suite}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        _cluster_pool(cluster, settings) as pool,
        Progress(*columns, console=progress_console, transient=False) as progress,
        EvalSession(
            settings,
            data_root=data or settings.evals.data_dir,
            halueval_file=halueval,
            limit=limit,
            progress=_progress_factory(progress),
            selfcheck_samples=samples,
            items_on=pool.map_items if pool is not None else None,
            model_label=pool.model_name if pool is not None else None,
        ) as session,
    ):
        command = _command(suite, model, limit, data, samples, halueval, cluster)
        run = run_suites(names, session, run_name, command)
    out_dir = out or settings.data_dir / "evals"
    json_path = save_run(run, out_dir)
    html_path = write_report([run], out_dir / f"{run_name}.html")
    for result in run.suites:
        for table in result.tables:
            _print_table(table.title, table.rows)
        for note in result.notes:
            console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    console.print(
        f"results: {json_path}\nreport:  {html_path}\ntime:    {run.seconds:.0f} s", highlight=False
    )


@contextmanager
def _cluster_pool(address: str | None, settings: Settings) -> Iterator[Any]:
    if address is None:
        yield None
        return
    from heron.agents.cluster import ClusterPool

    progress_console.print(f"cluster {address}: starting workers (each loads the model once)")
    with ClusterPool(address, settings) as pool:
        yield pool


def _print_table(title: str, rows: dict[str, dict[str, float | None]]) -> None:
    from heron.evals.report import format_value

    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    table = Table(title=title, title_justify="left")
    table.add_column("")
    for column in columns:
        table.add_column(column, justify="right")
    for name, row in rows.items():
        table.add_row(name, *(format_value(row.get(c)) for c in columns))
    console.print(table)


@eval_app.command()
def hallucination(
    model: str | None = _MODEL,
    limit: int | None = _LIMIT,
    out: Path | None = _OUT,
    data: Path | None = _DATA,
    samples: int = _SAMPLES,
    cluster: str | None = _CLUSTER,
    pairs: Path | None = _PAIRS,
) -> None:
    """HaluEval: AUROC of hallucination detectors (groundedness, the answer's surprise, absent words and
    surprise rank-averaged, knowledge gain, SelfCheck, uncertainty) next to trivial baselines, on all
    answers and on length-matched ones."""
    _run("hallucination", model, limit, out, data, samples, cluster, pairs)


@eval_app.command()
def truthfulqa(
    model: str | None = _MODEL,
    limit: int | None = _LIMIT,
    out: Path | None = _OUT,
    data: Path | None = _DATA,
    cluster: str | None = _CLUSTER,
) -> None:
    """TruthfulQA MC1 and MC2 from option log-probabilities."""
    _run("truthfulqa", model, limit, out, data, 4, cluster)


@eval_app.command()
def bias(
    model: str | None = _MODEL,
    limit: int | None = _LIMIT,
    out: Path | None = _OUT,
    data: Path | None = _DATA,
    cluster: str | None = _CLUSTER,
) -> None:
    """BBQ accuracy and bias scores per category, counterfactual fairness, demographic representation."""
    _run("bias", model, limit, out, data, 4, cluster)


@eval_app.command("all")
def all_suites(
    model: str | None = _MODEL,
    limit: int | None = _LIMIT,
    out: Path | None = _OUT,
    data: Path | None = _DATA,
    samples: int = _SAMPLES,
    cluster: str | None = _CLUSTER,
) -> None:
    """Every suite: hallucination, truthfulqa and bias, in one result file and report."""
    _run("all", model, limit, out, data, samples, cluster)


@eval_app.command()
def compare(
    results: list[Path] = _RESULTS,
    out: Path = _REPORT_OUT,
) -> None:
    """One HTML report with several runs (models, settings) side by side."""
    from heron.evals.report import write_report
    from heron.evals.results import load_run

    runs = [load_run(path) for path in results]
    console.print(
        f"report: {write_report(runs, out, title='heron eval: ' + ' vs '.join(r.model for r in runs))}"
    )


@eval_app.command()
def traces(
    paths: list[Path] = _TRACES,
    judge: bool = _JUDGE,
    model: str | None = _MODEL,
    as_json: bool = _JSON,
) -> None:
    """Groundedness of agent answers against the passages their runs retrieved, claim by claim."""
    from heron.evals.embeddings import SentenceEmbedder
    from heron.evals.groundedness import JudgeGroundedness, ModelFreeGroundedness
    from heron.evals.session import EvalSession
    from heron.evals.traces import read_traces, score_traces

    runs, skipped = read_traces(paths)  # before any model loads: a folder with nothing to score says so
    for trace in skipped:
        if as_json:
            typer.echo(json.dumps({"trace": str(trace.path), "skipped": trace.reason}))
        else:
            progress_console.print(f"skipped {escape(f'{trace.path}: {trace.reason}')}", soft_wrap=True)
    if not runs:
        raise UsageError(
            f"no run to score in {', '.join(str(p) for p in paths)}",
            "name trace files (.jsonl) or folders holding traces of runs that answered (<data_dir>/traces)",
        )
    settings = _settings(model) if judge else load_settings()
    with EvalSession(settings) as session:
        embedder: SentenceEmbedder = session.embedder
        scored = score_traces(runs, ModelFreeGroundedness(embedder))
        judged = score_traces(runs, JudgeGroundedness(session.llm)) if judge else None
    for i, (run, result) in enumerate(scored):
        record = {
            "run_id": run.run_id,
            "trace": str(run.path),
            "passages": len(run.passages),
            "claims": len(result.claims),
            "groundedness": round(result.score, 4),
            "supported_share": round(result.supported_share, 4),
            "unsupported_claims": [c.claim for c in result.claims if c.supported < 0.5],
        }
        if not run.passages:  # e.g. an answer from a calculator: groundedness in passages does not apply
            record["note"] = "no passages retrieved: the answer rests on none (a tool's result is not scored)"
        if judged is not None:
            verdict = judged[i][1]
            record |= {
                "judge_groundedness": round(verdict.score, 4),
                "judge_contradicted_share": verdict.contradicted_share,
            }
        _print_trace(record, as_json)


def _print_trace(record: dict[str, object], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(record))
        return
    line = ", ".join(
        f"{k} {v}" for k, v in record.items() if k not in ("run_id", "trace", "unsupported_claims", "note")
    )
    console.print(f"[bold]{record['run_id']}[/] {line}", highlight=False)
    if "note" in record:
        console.print(f"  note: {escape(str(record['note']))}", highlight=False, soft_wrap=True)
    for claim in record["unsupported_claims"]:  # type: ignore[attr-defined]
        console.print(f"  unsupported: {escape(claim)}", highlight=False, soft_wrap=True)
