"""What the commands print and their ``--help`` say reaches the terminal as written: brackets in a
message or a help text are text, not rich markup (``[mcp.servers.NAME]`` is a valid markup tag and
used to vanish), and arguments on a usage line read as click writes them (``PATHS...``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import typer

from heron.cli import EXIT_OK, main
from heron.cli.render import render_event


def test_mcp_tools_without_servers_names_the_table_to_add(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp", "tools"]) == EXIT_OK
    assert "add [mcp.servers.NAME] to heron.toml" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["mcp"], ["mcp", "tools"]], ids=["mcp", "mcp-tools"])
def test_help_keeps_brackets(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == EXIT_OK
    assert "heron.toml ([mcp.servers.NAME])" in capsys.readouterr().out


def test_usage_lines_name_arguments_as_click_does(capsys: pytest.CaptureFixture[str]) -> None:
    from heron.cli import _register, app

    _register()
    expected = {("ingest",): "PATHS...", ("run",): "TASK_FILES...", ("resume",): "RUN_ID"}
    for path in _all_commands(typer.main.get_command(app)):
        assert main([*path, "--help"]) == EXIT_OK, path
        [usage] = [line for line in capsys.readouterr().out.splitlines() if "Usage:" in line]
        assert not re.search(r"\{\w+\}", usage), (path, usage)
        if path in expected:
            assert usage.split() == ["Usage:", "heron", *path, "[OPTIONS]", expected[path]], usage


def test_a_plan_step_names_its_tool_in_brackets() -> None:
    from rich.console import Console

    plan = SimpleNamespace(type="plan", step=1, steps=["find the passage"], tools=["retrieve"], revision=0)
    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(render_event(plan))
    assert "1. find the passage [retrieve]" in captured.get()


def test_an_edited_approval_shows_the_arguments_the_call_ran_with() -> None:
    from rich.console import Console

    from heron.tracing import ApprovalEvent

    edited = ApprovalEvent(
        run_id="r", step=1, call_id="c", tool="send_money", decision="edited", arguments={"amount": 1.0}
    )
    console = Console(width=200, color_system=None)
    with console.capture() as captured:
        console.print(render_event(edited))
    assert 'approval send_money: edited to {"amount": 1.0}' in captured.get()


def _all_commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subcommands = getattr(command, "commands", {})
    if not subcommands:
        yield path
    for name, sub in subcommands.items():
        yield from _all_commands(sub, (*path, name))


def test_an_error_keeps_a_long_path_on_one_line(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # rich folds a word longer than the line (80 columns when stderr is not a terminal); a path
    # cut in two cannot be copied or grepped
    missing = tmp_path / ("deep-folder-" * 8) / "task.yaml"
    assert main(["run", str(missing)]) != EXIT_OK
    err = capsys.readouterr().err
    assert f"error: task file not found: {missing}\n" in err
