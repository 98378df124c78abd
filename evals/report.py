"""An HTML report of one or more eval runs: a chart and a table per result table, runs side by side.

The file is self-contained (plots are base64 PNGs drawn with matplotlib), so it can be mailed or
attached to an issue. Tables are matched across runs by suite and title; a run without a table shows
empty cells.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from html import escape
from pathlib import Path

from matplotlib.figure import Figure

from heron.evals.results import EvalRun, ResultTable

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
.note { color: #555; font-size: .9em; max-width: 60em; }
.notes li { margin: .3em 0; }
img { max-width: 100%; }
code { background: #f4f4f4; padding: 0 .2em; }
"""
_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")


def format_value(value: float | None) -> str:
    """A figure for a table: integers as integers, small values with 3 decimals, a dash for None."""
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) >= 2:
        return f"{int(value)}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _is_reference_row(name: str) -> bool:
    return name.startswith(("baseline", "uniform chance", "paper", "GPT-3"))


def plot_table(tables: Sequence[tuple[str, ResultTable | None]]) -> str | None:
    """A base64 PNG: one panel per plotted column, horizontal bars per row, one color per run.

    With a single run, baseline rows (``baseline: ...``, chance, paper figures) are drawn in grey so
    the eye goes to the measured rows first.
    """
    figure = plot_figure(tables)
    return None if figure is None else _png(figure)


def plot_figure(tables: Sequence[tuple[str, ResultTable | None]]) -> Figure | None:
    """The figure :func:`plot_table` draws; None when the tables plot no column."""
    first = next((t for _, t in tables if t is not None), None)
    if first is None or not first.plot_columns:
        return None
    rows = list(dict.fromkeys(r for _, t in tables if t is not None for r in t.rows))
    columns = first.plot_columns
    height = 1.2 + 0.3 * len(rows) * max(1, len(tables))
    figure = Figure(figsize=(min(5.5 * len(columns), 16), height))
    axes = figure.subplots(1, len(columns), squeeze=False, sharey=True)[0]
    bar = 0.8 / len(tables)
    for ax, column in zip(axes, columns, strict=True):
        drawn_any = False
        for k, (label, table) in enumerate(tables):
            drawn = [
                (i + k * bar - 0.4 + bar / 2, value, row)
                for i, row in enumerate(rows)
                if table is not None and (value := (table.rows.get(row) or {}).get(column)) is not None
            ]
            color = _COLORS[k % len(_COLORS)]
            colors = [
                "#b0b0b0" if len(tables) == 1 and _is_reference_row(row) else color for _, _, row in drawn
            ]
            bars = ax.barh(
                [p for p, _, _ in drawn],
                [v for _, v, _ in drawn],
                height=bar * 0.9,
                color=colors,
                label=label,
            )
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=2)
            drawn_any = drawn_any or bool(drawn)
        if not drawn_any:  # not a blank panel: say why it is empty
            ax.text(
                0.5,
                0.5,
                "undefined for every row\n(a dash in the table)",
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=9,
                color="#666",
            )
        if first.reference is not None:
            ax.axvline(first.reference, color="#999", linestyle="--", linewidth=1)
        ax.axvline(0.0, color="#333", linewidth=0.6)
        if first.value_range is not None:
            ax.set_xlim(*first.value_range)
        ax.set_title(column, fontsize=10)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
        ax.grid(axis="x", alpha=0.3)
    if len(tables) > 1:
        axes[-1].legend(fontsize=8, loc="best")
    return figure


def _html_table(tables: Sequence[tuple[str, ResultTable | None]]) -> str:
    rows = list(dict.fromkeys(r for _, t in tables if t is not None for r in t.rows))
    columns = list(
        dict.fromkeys(c for _, t in tables if t is not None for row in t.rows.values() for c in row)
    )
    multi = len(tables) > 1
    head = "<tr><th rowspan='2'></th>" if multi else "<tr><th></th>"
    head += "".join(
        f"<th colspan='{len(tables)}'>{escape(c)}</th>" if multi else f"<th>{escape(c)}</th>" for c in columns
    )
    head += "</tr>"
    if multi:
        head += (
            "<tr>" + "".join(f"<th>{escape(label)}</th>" for _ in columns for label, _ in tables) + "</tr>"
        )
    body = ""
    for row in rows:
        cells = "".join(
            f"<td>{format_value((t.rows.get(row) or {}).get(c) if t else None)}</td>"
            for c in columns
            for _, t in tables
        )
        body += f"<tr><td>{escape(row)}</td>{cells}</tr>"
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def _runs_header(runs: Sequence[EvalRun]) -> str:
    rows = "".join(
        f"<tr><td>{escape(r.name)}</td><td>{escape(r.model)}</td><td>{escape(r.created)}</td>"
        f"<td>{r.limit if r.limit is not None else 'all'}</td><td>{r.seconds:.0f}</td>"
        f"<td><code>{escape(r.command)}</code></td></tr>"
        for r in runs
    )
    head = "<tr><th>run</th><th>model</th><th>created</th><th>limit</th><th>seconds</th><th>command</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{rows}</tbody></table>"


def render_html(runs: Sequence[EvalRun], title: str = "heron eval report") -> str:
    """The report as one HTML string."""
    if not runs:
        raise ValueError("a report needs at least one run")
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>",
        _runs_header(runs),
    ]
    suites = list(dict.fromkeys(s.suite for r in runs for s in r.suites))
    for suite in suites:
        parts.append(f"<h2>{escape(suite)}</h2>")
        found = [(r.name, r.suite(suite)) for r in runs]
        timing = ", ".join(f"{name}: {s.seconds:.0f} s" for name, s in found if s is not None)
        items = {k: v for _, s in found if s is not None for k, v in s.items.items()}
        parts.append(
            f"<p class='note'>time: {escape(timing)}; items: "
            f"{escape(', '.join(f'{k} {v}' for k, v in items.items()) or '–')}</p>"
        )
        notes = list(dict.fromkeys(n for _, s in found if s is not None for n in s.notes))
        if notes:
            parts.append("<ul class='notes'>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
        titles = list(dict.fromkeys(t.title for _, s in found if s is not None for t in s.tables))
        for table_title in titles:
            tables = [(r.name, r.table(suite, table_title)) for r in runs]
            parts.append(f"<h3>{escape(table_title)}</h3>")
            note = next((t.note for _, t in tables if t is not None and t.note), "")
            if note:
                parts.append(f"<p class='note'>{escape(note)}</p>")
            image = plot_table(tables)
            if image:
                parts.append(f"<img alt='{escape(table_title)}' src='data:image/png;base64,{image}'>")
            parts.append(_html_table(tables))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(runs: Sequence[EvalRun], path: Path, title: str = "heron eval report") -> Path:
    """Write the HTML report of ``runs`` to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(runs, title), encoding="utf-8")
    return path
