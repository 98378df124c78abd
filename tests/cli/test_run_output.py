"""What `heron run` prints: the model's text and file names reach the terminal as written, never as
rich markup (a citation id such as ``[a2acc1d1]`` is a valid markup tag and used to vanish)."""

from __future__ import annotations

import io

from rich.console import Console

from heron.agents.runner import CheckResult, TaskOutcome
from heron.cli import run as run_cli


def test_answer_citations_and_checks_are_printed_verbatim(monkeypatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(run_cli, "console", Console(file=out, width=200, color_system=None))
    outcome = TaskOutcome(
        run_id="r1",
        task="t",
        status="succeeded",
        exit_code=0,
        answer="The mean is 151.67 cm [a2acc1d1] [e8d83094] [bold]not bold[/bold].",
        citations=[{"id": "a2acc1d1", "source": "docs/[draft] grey-heron.md"}],
        checks=[CheckResult(check="answer_matches", passed=True, detail="matched [b]151.67[/b]")],
        workspace="/tmp/[ws]",
    )
    run_cli._print_outcome(outcome, as_json=False)
    text = out.getvalue()
    assert "The mean is 151.67 cm [a2acc1d1] [e8d83094] [bold]not bold[/bold]." in text
    assert "[a2acc1d1] docs/[draft] grey-heron.md" in text
    assert "matched [b]151.67[/b]" in text
    assert "workspace: /tmp/[ws]" in text
