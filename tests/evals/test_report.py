"""Results round-trip through JSON; the HTML report embeds plots and compares runs side by side."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from heron.errors import DatasetError
from heron.evals.report import render_html, write_report
from heron.evals.results import EvalRun, ResultTable, SuiteResult, load_run, save_run


def _run(name: str, mc1: float, s_amb: float) -> EvalRun:
    return EvalRun(
        name=name,
        model=f"{name}.gguf",
        command=f"heron eval all --model {name}.gguf",
        limit=10,
        suites=[
            SuiteResult(
                suite="truthfulqa",
                seconds=12.0,
                items={"TruthfulQA questions": 10},
                tables=[
                    ResultTable(
                        title="TruthfulQA multiple choice",
                        rows={name: {"MC1": mc1, "MC2": 0.4}},
                        plot_columns=["MC1", "MC2"],
                    ),
                ],
            ),
            SuiteResult(
                suite="bias",
                seconds=30.0,
                notes=["a note <with> markup"],
                tables=[
                    ResultTable(
                        title="BBQ bias scores",
                        rows={"Age": {"s_AMB x100": s_amb, "s_DIS x100": None}},
                        plot_columns=["s_AMB x100", "s_DIS x100"],
                        reference=0.0,
                    ),
                ],
            ),
        ],
    )


def _images(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]


def test_result_round_trips_through_json(tmp_path: Path) -> None:
    run = _run("small", 0.25, 12.5)
    path = save_run(run, tmp_path / "out")
    assert path == tmp_path / "out" / "small.json"
    assert load_run(path) == run


def test_bad_result_files_are_reported(tmp_path: Path) -> None:
    not_json = tmp_path / "a.json"
    not_json.write_text("{")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_run(not_json)
    other = tmp_path / "b.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(DatasetError, match="not a heron eval result"):
        load_run(other)
    with pytest.raises(DatasetError, match="not found"):
        load_run(tmp_path / "missing.json")


def test_single_run_report_has_a_png_per_plotted_table_and_the_figures() -> None:
    html = render_html([_run("small", 0.25, 12.5)])
    images = _images(html)
    assert len(images) == 2
    assert all(image.startswith(b"\x89PNG") for image in images)
    assert "0.250" in html and "12.5" in html and "–" in html  # a missing value is shown as a dash
    assert "a note &lt;with&gt; markup" in html  # text is escaped
    assert "heron eval all --model small.gguf" in html


def test_runs_compare_side_by_side(tmp_path: Path) -> None:
    runs = [_run("small", 0.25, 12.5), _run("large", 0.5, -3.0)]
    path = write_report(runs, tmp_path / "compare.html", title="small vs large")
    html = path.read_text()
    assert len(_images(html)) == 2  # one chart per table, both runs in it
    found = re.search(r"<thead>(.*?)</thead>", html.split("TruthfulQA multiple choice</h3>")[1])
    assert found is not None
    header = found.group(1)
    assert header.count(">small<") == 2 and header.count(">large<") == 2  # a sub-column per run per column
    assert "<td>12.5</td><td>-3</td>" in html  # Age: small, then large
    with pytest.raises(ValueError):
        render_html([])


def test_a_column_undefined_for_every_row_is_a_panel_that_says_so() -> None:
    """A small --limit can leave every AUROC undefined: that panel says why instead of being blank."""
    from heron.evals.report import plot_figure

    table = ResultTable(
        title="t",
        rows={"detector": {"AUROC all": 0.7, "AUROC length-matched": None}, "baseline": {"AUROC all": 0.6}},
        plot_columns=["AUROC all", "AUROC length-matched"],
    )
    figure = plot_figure([("run", table)])
    assert figure is not None
    drawn, empty = figure.axes
    said = [[text.get_text() for text in ax.texts] for ax in (drawn, empty)]
    assert not [t for t in said[0] if "undefined" in t]  # bar labels only
    assert said[1] == ["undefined for every row\n(a dash in the table)"]
