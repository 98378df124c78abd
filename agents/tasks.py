"""Task files (``heron run task.yaml``): a pydantic schema, validated before anything runs.

Every error names the file and line: YAML syntax errors from the parser's mark, schema errors by
mapping pydantic's error location back to the YAML node it came from. Example::

    name: weekly-report
    goal: "Summarise {{ topic }} from the notes and write report.md"
    inputs: {topic: "heron wingspans"}
    tools: [retrieve, python, write_file]
    memory: {collection: notes, ingest: [notes/]}
    steps:
      - {do: "Find the wingspans in the notes", tool: retrieve}
      - {do: "Compute the average with Python", tool: python}
      - {do: "Write report.md", tool: write_file}
    approval: {allow: [python, write_file]}
    budget: {max_steps: 10}
    mcp: {time: {command: mcp-server-time}}   # every tool of these MCP servers is offered too;
                                              # a step may name one (checked when the server runs)
    checks:
      - {file_exists: report.md}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from heron.agents.budget import Budget
from heron.agents.state import PlanStep
from heron.config import MCPServerSettings
from heron.errors import TaskFileError

KNOWN_TOOLS = (
    "python",
    "calculator",
    "read_file",
    "write_file",
    "list_files",
    "retrieve",
    "remember",
    "generate_image",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemorySpec(_Strict):
    collection: str = "default"
    ingest: list[str] = Field(
        default_factory=list, description="paths (relative to the task file) to ingest first"
    )


class ApprovalSpec(_Strict):
    """Which risky tools may run unattended. ``--yes`` on the command line allows all of them."""

    allow: list[str] = Field(default_factory=list)


class RetrySpec(_Strict):
    attempts: int = Field(2, ge=0, le=10, description="retries of a tool that raised unexpectedly")
    backoff_seconds: float = Field(0.5, ge=0)


class Check(_Strict):
    """One success check; exactly one field is set."""

    file_exists: str | None = None
    file_contains: dict[str, str] | None = Field(None, description="{path: ..., text: ...}")
    file_matches: dict[str, str] | None = Field(
        None,
        description="{path: ..., pattern: ...}: a regular expression the file must match (re.search, "
        "case-insensitive; ^ and $ match at each line)",
    )
    answer_contains: str | None = None
    answer_matches: str | None = Field(
        None, description="a regular expression the answer must match (re.search)"
    )
    answer_cites: bool | None = Field(None, description="true: the answer must cite at least one passage")
    cited_passages_contain: list[str] | None = Field(
        None, description="texts that must each appear in a passage the answer cites (case-insensitive)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        set_fields = [k for k, v in self.model_dump().items() if v is not None]
        if len(set_fields) != 1:
            raise ValueError(
                f"a check needs exactly one of file_exists, file_contains, file_matches, answer_contains, "
                f"answer_matches, answer_cites, cited_passages_contain; got {set_fields or 'none'}"
            )
        if self.file_contains is not None and set(self.file_contains) != {"path", "text"}:
            raise ValueError("file_contains needs exactly the keys path and text")
        if self.file_matches is not None and set(self.file_matches) != {"path", "pattern"}:
            raise ValueError("file_matches needs exactly the keys path and pattern")
        for name, pattern in (
            ("answer_matches", self.answer_matches),
            ("file_matches", (self.file_matches or {}).get("pattern")),
        ):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{name} is not a valid regular expression: {exc}") from exc
        return self


class SubAgentSpec(_Strict):
    """An agent the task's agent can call as a tool (``Agent.as_tool``): its own tools, instructions
    and budget; the same model, workspace and memory; the task's approval rules."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="the tool name the main agent calls")
    description: str = Field(min_length=1, description="what to hand it, as the main agent reads it")
    tools: list[str] = Field(default_factory=list)
    instructions: str = ""
    budget: Budget | None = None


class TaskFile(_Strict):
    name: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+$")
    goal: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    tools: list[str] = Field(default_factory=list)
    agents: list[SubAgentSpec] = Field(
        default_factory=list, description="sub-agents; list a sub-agent's name under `tools:` to use it"
    )
    mcp: dict[str, MCPServerSettings | None] = Field(
        default_factory=dict,
        description="MCP servers whose tools the agent may call: a server spec, or nothing for the "
        "heron.toml server of that name",
    )
    steps: list[PlanStep] = Field(default_factory=list)
    planning: Literal["never", "always"] = "never"
    instructions: str = ""
    require_citations: bool = False
    step_notes: bool = True
    check_first_call: bool = Field(
        False,
        description="ask the model whether its first call's tool fits the goal (AgentConfig."
        "check_first_call); off: a task's tools are the ones its author chose for its goal",
    )
    memory: MemorySpec | None = None
    approval: ApprovalSpec = Field(default_factory=lambda: ApprovalSpec())
    budget: Budget | None = None
    retries: RetrySpec = Field(default_factory=lambda: RetrySpec())
    workspace: str | None = Field(None, description="folder for files, relative to the task file")
    outputs: list[str] = Field(default_factory=list, description="files the task must produce")
    checks: list[Check] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _own_tools_by_name(cls, data: Any) -> Any:
        """A step's ``tool`` and ``approval.allow`` name a tool as the model sees it (``subtract``);
        the ``tools:`` entry as written (``my_tools:subtract``) is read as that name too."""
        if not isinstance(data, dict):
            return data
        lists = [data.get("tools")] + [
            a.get("tools") for a in data.get("agents") or [] if isinstance(a, dict)
        ]
        entries = [e for tools in lists if isinstance(tools, list) for e in tools]  # (sub-agents' too)
        own = {entry: tool_name(entry) for entry in entries if isinstance(entry, str) and ":" in entry}
        if not own:
            return data
        data = dict(data)
        if isinstance(data.get("steps"), list):
            data["steps"] = [
                {**step, "tool": own.get(step["tool"], step["tool"])}
                if isinstance(step, dict) and isinstance(step.get("tool"), str)
                else step
                for step in data["steps"]
            ]
        approval = data.get("approval")
        if isinstance(approval, dict) and isinstance(approval.get("allow"), list):
            allow = [own.get(name, name) if isinstance(name, str) else name for name in approval["allow"]]
            data["approval"] = {**approval, "allow": allow}
        return data

    def rendered_goal(self) -> str:
        """The goal with ``{{ input }}`` placeholders filled from ``inputs`` (a missing one is an error)."""
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
        return env.from_string(self.goal).render(**self.inputs)


class LoadedTask(BaseModel):
    """A validated task file and where it came from."""

    task: TaskFile
    path: Path
    name: str

    @property
    def folder(self) -> Path:
        return self.path.parent

    def line_of(self, loc: tuple[str | int, ...]) -> int:
        """1-based line of ``loc`` (``("steps", 0, "tool")``) in the file, for a problem found after
        loading (a step naming an MCP server's tool, known once the server runs)."""
        try:
            node = yaml.compose(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            node = None
        return _line(node, loc)


def load_task(path: Path | str, available_tools: tuple[str, ...] = KNOWN_TOOLS) -> LoadedTask:
    """Parse and validate a task file; every problem raises TaskFileError with ``file:line``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TaskFileError(f"task file not found: {path}", "check the path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFileError(f"cannot read task file {path}: {exc}", "it must be a UTF-8 YAML file") from exc
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise TaskFileError(f"{where}: YAML syntax error: {problem}", "fix the YAML at that line") from exc
    if not isinstance(data, dict):
        raise TaskFileError(
            f"{path}:1: a task file must be a mapping with at least `goal:`",
            "see docs/tasks.md for the format",
        )
    try:
        task = TaskFile.model_validate(data)
    except ValidationError as exc:
        raise TaskFileError(
            _describe(exc, path, node), "see docs/tasks.md for every key and its type"
        ) from exc
    _check_names(task, path, node, available_tools)
    return LoadedTask(task=task, path=path.resolve(), name=task.name or path.stem)


def _check_names(task: TaskFile, path: Path, node: yaml.Node | None, available: tuple[str, ...]) -> None:
    """Every tool name, sub-agent, approval and the goal's template, all problems in one error."""
    problems: list[str] = []
    hints: list[str | None] = []
    sub_agents = [a.name for a in task.agents]
    lists: list[tuple[tuple[str | int, ...], list[str], tuple[str, ...]]]
    lists = [(("tools",), task.tools, (*available, *sub_agents))]
    lists += [(("agents", j, "tools"), a.tools, available) for j, a in enumerate(task.agents)]
    for where, names, known in lists:
        label = ".".join(str(w) if isinstance(w, str) else f"[{w}]" for w in where).replace(".[", "[")
        for i, name in enumerate(names):
            if ":" in name:
                try:
                    load_tool_reference(name, path.parent)
                except TaskFileError as exc:
                    problems.append(f"{path}:{_line(node, (*where, i))}: {label}[{i}]: {exc.problem}")
                    hints.append(exc.hint)
            elif name not in known:
                unknown = (
                    "a sub-agent cannot call another" if name in sub_agents else f"unknown tool {name!r}"
                )
                problems.append(f"{path}:{_line(node, (*where, i))}: {label}[{i}]: {unknown}")
    names = [tool_name(t) for t in task.tools]
    for i, step in enumerate(task.steps):
        # an MCP server's tools are known once it runs: the runner checks a step naming no built-in then
        deferred = bool(task.mcp) and step.tool not in available
        if step.tool is not None and step.tool not in names and not deferred:
            problems.append(
                f"{path}:{_line(node, ('steps', i, 'tool'))}: steps[{i}].tool: {step.tool!r} is not "
                f"in this task's `tools:` list"
            )
    names += [tool_name(t) for a in task.agents for t in a.tools]  # a sub-agent's calls are the task's too
    for i, name in enumerate(task.approval.allow):
        if name not in names:
            problems.append(
                f"{path}:{_line(node, ('approval', 'allow', i))}: approval.allow[{i}]: {name!r} is "
                f"not in this task's `tools:` list"
            )
    every_tool = [*task.tools, *(t for a in task.agents for t in a.tools)]
    if any(t in ("retrieve", "remember") for t in every_tool) and task.memory is None:
        problems.append(
            f"{path}:{_line(node, ('tools',))}: tools: retrieve/remember need a `memory:` section"
        )
    if problems:
        own = "your own: `module:function` (a @tool next to the task file)"
        hints.append(f"built-in tools: {', '.join(available)}; {own}")
    try:
        task.rendered_goal()
    except jinja2.TemplateError as exc:
        problems.append(f"{path}:{_line(node, ('goal',))}: goal: {exc}")
        hints.append("add the missing name under `inputs:`")
    if problems:
        raise TaskFileError("\n".join(problems), "; ".join(dict.fromkeys(h for h in hints if h)))


def tool_name(entry: str) -> str:
    """The name a `tools:` entry gives the model: the built-in's name, or the function's for `module:fn`."""
    return entry.rsplit(":", 1)[-1]


def load_tool_reference(reference: str, folder: Path) -> Any:
    """Import ``module:function`` (a ``@tool``), looking first in the task file's folder."""
    import importlib
    import sys

    from heron.tools import Tool

    module_name, _, attribute = reference.partition(":")
    added = str(folder.resolve())
    sys.path.insert(0, added)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise TaskFileError(
            f"cannot import {module_name!r} for tool {reference!r}: {exc}",
            "put the module next to the task file or on PYTHONPATH",
        ) from exc
    finally:
        if sys.path and sys.path[0] == added:
            sys.path.pop(0)
    found = getattr(module, attribute, None)
    if not isinstance(found, Tool):
        raise TaskFileError(
            f"{reference!r} is not a heron tool (got {type(found).__name__})",
            "decorate the function with @heron.tool",
        )
    deps = found.required_deps
    if deps is not None:
        kind = getattr(deps, "__name__", repr(deps))
        raise TaskFileError(
            f"tool {reference!r} needs deps (ToolContext[{kind}]), which a task file cannot give: "
            "every call of it would fail",
            f"run it from Python (Agent(tools=[...], deps={kind}(...))), or let the tool work without "
            f"them (ToolContext[{kind} | None], and a default when ctx.deps is None)",
        )
    return found


def _describe(exc: ValidationError, path: Path, node: yaml.Node | None) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
        msg = "unknown key (check the spelling)" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")  # (pydantic's prefix for a validator's ValueError)
        lines.append(f"{path}:{_line(node, loc)}: {key or '(top level)'}: {msg}")
    return "\n".join(lines)


def _line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """1-based line of the YAML node at ``loc``, or of the deepest ancestor that exists."""
    line = 1
    current = node
    for part in loc:
        if current is None:
            break
        line = current.start_mark.line + 1
        child = None
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == str(part):
                    # an unknown or bad key: point at the key itself
                    line = key_node.start_mark.line + 1
                    child = value_node
                    break
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int) and part < len(current.value):
            child = current.value[part]
        current = child
    if current is not None:
        line = current.start_mark.line + 1
    return line
