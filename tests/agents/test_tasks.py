"""Task files: validated before anything runs, with file:line errors and exit code 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from heron.agents.run_store import RunStore
from heron.agents.tasks import load_task
from heron.errors import TaskFileError

HERON = shutil.which("heron", path=str(Path(sys.executable).parent))

GOOD = """\
name: ok-task
goal: "Add {{ a }} and 2"
inputs: {a: 40}
tools: [calculator, python]
steps:
  - {do: add, tool: calculator}
approval: {allow: [python]}
budget: {max_steps: 3}
checks:
  - answer_contains: "42"
"""

BAD = {
    "yaml_syntax": ("goal: x\nsteps:\n  - do: a\n   tool: b\nbudget: {}\n", 4, "YAML syntax error"),
    "unknown_key": ("goal: x\ntools: [calculator]\ncolour: red\n", 3, "colour: unknown key"),
    "wrong_type": ("goal: x\ntools: [calculator]\nbudget:\n  max_steps: many\n", 4, "budget.max_steps"),
    "unknown_tool": ("goal: x\ntools:\n  - calculator\n  - web_search\n", 4, "unknown tool 'web_search'"),
    "step_tool_not_listed": (
        "goal: x\ntools: [calculator]\nsteps:\n  - do: a\n    tool: python\n",
        5,
        "steps[0].tool",
    ),
    "missing_input": ("goal: 'hello {{ who }}'\n", 1, "who"),
    "bad_check": ("goal: x\nchecks:\n  - {}\n", 3, "exactly one"),
    "bad_file_pattern": (
        "goal: x\nchecks:\n  - file_matches: {path: r.md, pattern: 'heron (175'}\n",
        3,
        "file_matches is not a valid regular expression",
    ),
    "file_matches_keys": (
        "goal: x\nchecks:\n  - file_matches: {path: r.md, text: a}\n",
        3,
        "path and pattern",
    ),
}


def _write(tmp_path: Path, text: str, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_task_loads_and_renders_inputs(tmp_path: Path) -> None:
    loaded = load_task(_write(tmp_path, GOOD))
    assert loaded.name == "ok-task"
    assert loaded.task.rendered_goal() == "Add 40 and 2"
    assert loaded.task.steps[0].tool == "calculator"


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_task_names_file_and_line(tmp_path: Path, case: str) -> None:
    text, line, fragment = BAD[case]
    path = _write(tmp_path, text)
    with pytest.raises(TaskFileError) as err:
        load_task(path)
    assert f"{path}:{line}:" in str(err.value)
    assert fragment in str(err.value) and "Value error" not in str(err.value)


@pytest.mark.parametrize("case", ["yaml_syntax", "unknown_key", "wrong_type", "unknown_tool"])
def test_heron_run_refuses_malformed_files_before_running_anything(tmp_path: Path, case: str) -> None:
    good = _write(tmp_path, GOOD, "good.yaml")
    bad = _write(tmp_path, BAD[case][0], "bad.yaml")
    result = subprocess.run(
        [HERON, "run", str(good), str(bad)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2, result.stderr
    assert f"{bad}:{BAD[case][1]}:" in result.stderr
    # nothing ran: not even the valid file that came first
    assert (
        not (Path.cwd().parent / "heron-data" / "runs.sqlite3").exists()
        or not RunStore(Path.cwd().parent / "heron-data" / "runs.sqlite3").list_runs()
    )


def test_heron_run_tells_every_invalid_files_problems_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from heron.cli import EXIT_USAGE, main

    good = _write(tmp_path, GOOD, "good.yaml")
    first = _write(tmp_path, BAD["unknown_key"][0], "first.yaml")
    second = _write(tmp_path, BAD["unknown_tool"][0], "second.yaml")
    assert main(["run", str(good), str(first), str(second)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert (
        f"{first}:3: colour: unknown key" in err and f"{second}:4: tools[1]: unknown tool 'web_search'" in err
    )


def test_custom_tool_reference(tmp_path: Path) -> None:
    (tmp_path / "my_tools.py").write_text(
        'from heron import tool\n\n@tool\ndef shout(text: str) -> str:\n    """Upper-case text."""\n'
        "    return text.upper()\n"
    )
    loaded = load_task(
        _write(tmp_path, "goal: x\ntools: ['my_tools:shout']\nsteps: [{do: s, tool: shout}]\n")
    )
    assert loaded.task.tools == ["my_tools:shout"]
    # a step and approval.allow may name the tool as its `tools:` entry writes it, too
    written = "goal: x\ntools: ['my_tools:shout']\nsteps: [{do: s, tool: 'my_tools:shout'}]\n"
    loaded = load_task(_write(tmp_path, written + "approval: {allow: ['my_tools:shout']}\n", "t3.yaml"))
    assert loaded.task.steps[0].tool == "shout" and loaded.task.approval.allow == ["shout"]
    delegated = (  # a sub-agent's own tool, allowed unattended by its entry as written
        "goal: x\ntools: [helper]\nagents: [{name: helper, description: h, tools: ['my_tools:shout']}]\n"
        "approval: {allow: ['my_tools:shout']}\n"
    )
    assert load_task(_write(tmp_path, delegated, "t4.yaml")).task.approval.allow == ["shout"]
    with pytest.raises(TaskFileError, match="cannot import"):
        load_task(_write(tmp_path, "goal: x\ntools: ['nowhere:shout']\n", "t2.yaml"))


def test_a_tool_that_needs_deps_is_refused_where_a_task_file_cannot_give_them(tmp_path: Path) -> None:
    (tmp_path / "dep_tools.py").write_text(
        textwrap.dedent('''
            from dataclasses import dataclass
            from heron import tool, ToolContext
            from heron.tools import LazyTool

            @dataclass
            class Shop:
                name: str

            @tool
            def shop_name(ctx: ToolContext[Shop]) -> str:
                """The shop's name."""
                return ctx.deps.name

            @tool
            def maybe_name(ctx: ToolContext[Shop | None]) -> str:
                """The shop's name, if there is a shop."""
                return ctx.deps.name if ctx.deps else "none"

            @tool
            def no_deps(ctx: ToolContext) -> str:
                """The workspace."""
                return str(ctx.workspace)

            class ShopLabel(LazyTool, name="shop_label"):
                def run(self, ctx: ToolContext[Shop]) -> str:
                    """The shop's label."""
                    return ctx.deps.name

            shop_label = ShopLabel()
        ''')
    )
    for name in ("shop_name", "shop_label"):  # a function or a class-based tool
        with pytest.raises(TaskFileError) as caught:
            load_task(_write(tmp_path, f"goal: x\ntools: ['dep_tools:{name}']\n"))
        assert "needs deps (ToolContext[Shop])" in str(caught.value) and "deps=Shop(...)" in caught.value.hint
    written = "goal: x\ntools: ['dep_tools:maybe_name', 'dep_tools:no_deps']\n"
    assert load_task(_write(tmp_path, written, "t2.yaml")).task.tools == [
        "dep_tools:maybe_name",
        "dep_tools:no_deps",
    ]


def test_missing_task_file(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="not found"):
        load_task(tmp_path / "absent.yaml")


SUB_AGENTS = """
goal: Ask the researcher, then write the answer.
tools: [researcher, write_file]
agents:
  - name: researcher
    description: Looks things up in the notes.
    tools: [{inner}]
memory: {{collection: notes}}
"""


@pytest.mark.parametrize(
    ("inner", "problem"),
    [
        ("retrieve", None),
        ("nonsense", "agents[0].tools[0]: unknown tool 'nonsense'"),
        ("researcher", "agents[0].tools[0]: a sub-agent cannot call another"),
    ],
)
def test_task_files_declare_sub_agents_whose_tools_are_checked(
    tmp_path: Path, inner: str, problem: str | None
) -> None:
    path = tmp_path / "task.yaml"
    path.write_text(SUB_AGENTS.format(inner=inner))
    if problem is None:
        loaded = load_task(path)
        assert [a.name for a in loaded.task.agents] == ["researcher"]
        return
    with pytest.raises(TaskFileError) as caught:
        load_task(path)
    assert f"{path}:7: {problem}" in str(caught.value)


def test_every_name_problem_and_the_goals_template_are_told_at_once(tmp_path: Path) -> None:
    """A user fixing a task file sees all its wrong names and a missing input in one error, not one
    per try."""
    task = _write(tmp_path, "goal: 'Hello {{ who }}'\ntools:\n  - calculator\n  - web_search\n  - browse\n")
    with pytest.raises(TaskFileError) as caught:
        load_task(task)
    lines = caught.value.problem.splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == ["tools[1]", "tools[2]", "goal"]
    assert "built-in tools:" in caught.value.hint and "`inputs:`" in caught.value.hint


def test_every_wrong_pinned_step_is_told_at_once_before_anything_runs(tmp_path: Path) -> None:
    from heron.agents.runner import TaskRunner
    from heron.config import load_settings
    from heron.llm import ScriptedLLM

    task = _write(
        tmp_path,
        "goal: add\ntools: [calculator]\nsteps:\n"
        "  - {do: 'Add.', tool: calculator, args: {expr: '1+2'}}\n"
        "  - {do: 'Add again.', tool: calculator, args: {expression: '2+2'}}\n"
        "  - {do: 'And again.', tool: calculator, args: {sum: '3+3'}}\n",
    )
    llm = ScriptedLLM([])  # never asked: nothing runs
    with pytest.raises(TaskFileError) as caught:
        TaskRunner(load_settings(), llm).run(task)
    lines = caught.value.problem.splitlines()
    assert [line.split(": ", 2)[1] for line in lines] == ["steps[0]", "steps[2]"]
    assert (
        "['expr']" in lines[0]
        and "['sum']" in lines[1]
        and "calculator takes: expression" in caught.value.hint
    )
    assert not llm.calls
