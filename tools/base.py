"""``Tool``: a named, typed, validated callable the model can use."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ValidationError

from heron.errors import ArgumentsRetry, HeronError, ToolDeclarationError, ToolExecutionError
from heron.tools.context import ToolContext
from heron.tools.results import Risk, ToolResult

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
# Words the agent's turns use besides tool names: its answer actions ("final_answer", and
# "step_done" for a plan step's note) and the modes of ``AgentConfig.tool_choice``. A tool named
# like one would be read as the answer, or would collide with the mode.
RESERVED_TOOL_NAMES = frozenset({"final_answer", "step_done", "auto", "none", "required"})


def check_tool_name(name: str) -> str:
    """``name`` if ``@tool`` may declare it (letters, digits, '_' or '-'; not reserved); else
    ToolDeclarationError saying why and what to do."""
    if not _NAME.match(name):
        raise ToolDeclarationError(
            f"{name!r} is not a valid tool name",
            "use 1-64 letters, digits, '_' or '-', starting with a letter or '_' (e.g. @tool(name='search'))",
        )
    return refuse_reserved_name(name)


def refuse_reserved_name(name: str) -> str:
    """``name`` unless the agent uses that word itself. Every tool is checked, however it is built
    (a wrapped JSON-schema tool may keep a name like ``math.factorial``; never ``final_answer``)."""
    if name in RESERVED_TOOL_NAMES:
        raise ToolDeclarationError(
            f"a tool cannot be named {name!r}: the agent uses that word for itself "
            f"(reserved: {', '.join(sorted(RESERVED_TOOL_NAMES))})",
            f"give the tool another name, e.g. @tool(name='{name}_tool')",
        )
    return name


class Tool:
    """A tool: name, description, a pydantic model of its arguments, a function and a risk level.

    Build one with :func:`heron.tools.tool` (or subclass :class:`heron.tools.LazyTool`)::

        @tool
        def add(a: int, b: int) -> int:
            \"\"\"Add two integers.\"\"\"
            return a + b

        add.invoke({"a": 1, "b": 2}, ctx).text  # "3"

    Errors, by who acts on them:

    - arguments that do not validate raise :class:`~heron.errors.ModelRetry` naming each field and
      its problem (the agent sends it back to the model);
    - heron's own errors raised inside the tool (``ModelRetry``, ``UsageError``, ``RunError``) pass
      through unchanged, so a tool can send a hint to the model by raising ``ModelRetry``;
    - any other exception becomes :class:`~heron.errors.ToolExecutionError`, with the original
      exception kept as its ``__cause__``. Expected failures a tool wants the model to see (a
      traceback from the sandbox, a missing file) are returned as ``ToolResult(is_error=True)``.
    """

    def __init__(
        self,
        *,
        name: str,
        description: str,
        args_model: type[BaseModel],
        function: Callable[..., Any],
        risk: Risk = Risk.LOW,
        context_param: str | None = None,
        required_deps: Any = None,
        schema: dict[str, Any] | None = None,
        cites: bool = False,
        think: bool = False,
        concurrent: bool = False,
        repeats_allowed: tuple[str, ...] = (),
    ) -> None:
        self.name = refuse_reserved_name(name)
        self.concurrent = concurrent  # may run alongside other calls of the turn (reads only, no state)
        self.cites = cites  # returns passages to cite (``Artifact(kind="citation")``), like retrieve
        self.think = think  # the model writes a short thought before composing the arguments (code, text)
        self.description = description
        self.args_model = args_model
        self.risk = Risk(risk)
        self._function = function
        self._context_param = context_param
        # the deps its ``ToolContext[Deps]`` needs (None: none, or they may be None): a task file gives none
        self.required_deps = required_deps
        self._schema = schema
        self.is_async = asyncio.iscoroutinefunction(function)
        # arguments that are data the model composes (file text, code): the agent's repetition
        # penalty leaves them alone (``RepetitionControl.free_keys``), since repeats are their content
        self.repeats_allowed = self._check_argument_names(tuple(repeats_allowed), "repeats_allowed")

    def json_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments (an object schema), as the model sees it."""
        if self._schema is not None:
            return json.loads(json.dumps(self._schema))  # a copy the caller may change
        return _without_titles(self.args_model.model_json_schema())

    @property
    def explicit_schema(self) -> dict[str, Any] | None:
        """The JSON schema given at construction (tools wrapped from JSON-schema tools), else None."""
        return self._schema

    def _check_argument_names(self, names: tuple[str, ...], option: str) -> tuple[str, ...]:
        if not names:
            return names
        known = set(self.json_schema().get("properties", {}))
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ToolDeclarationError(
                f"`{option}` of tool `{self.name}` names {', '.join(map(repr, unknown))}, not among its "
                f"arguments ({', '.join(sorted(known)) or 'none'})",
                f"list argument names of `{self.name}` in `{option}`, e.g. {option}=('content',)",
            )
        return names

    def spec(self) -> dict[str, Any]:
        """Name, description and parameters: what the planner shows the model for this tool."""
        return {"name": self.name, "description": self.description, "parameters": self.json_schema()}

    def validate_args(self, args: Mapping[str, Any] | None) -> BaseModel:
        """Validate raw arguments from the model; raises ModelRetry naming each bad field."""
        if args is None:
            args = {}
        if not isinstance(args, Mapping):
            raise ArgumentsRetry(
                f"the arguments of tool `{self.name}` must be a JSON object, got {type(args).__name__}: "
                f"{_short(args)}. {self._expected()}"
            )
        try:
            return self.args_model.model_validate(dict(args))
        except ValidationError as exc:
            raise ArgumentsRetry(self._describe_invalid(exc)) from exc

    def invoke(self, args: Mapping[str, Any] | None, ctx: ToolContext[Any]) -> ToolResult:
        """Validate ``args`` and run the tool; see the class docstring for how errors surface."""
        kwargs = self._call_kwargs(self.validate_args(args), ctx)
        try:
            if self.is_async:
                value = _run_coroutine_blocking(lambda: self._function(**kwargs))
            else:
                value = self._function(**kwargs)
        except HeronError:
            raise
        except Exception as exc:
            raise self._execution_error(exc) from exc
        return to_tool_result(value)

    async def ainvoke(self, args: Mapping[str, Any] | None, ctx: ToolContext[Any]) -> ToolResult:
        """Async ``invoke``: awaits an async tool, runs a sync one in a worker thread."""
        kwargs = self._call_kwargs(self.validate_args(args), ctx)
        try:
            if self.is_async:
                value = await self._function(**kwargs)
            else:
                value = await asyncio.to_thread(self._function, **kwargs)
        except HeronError:
            raise
        except Exception as exc:
            raise self._execution_error(exc) from exc
        return to_tool_result(value)

    def close(self) -> None:
        """Release what the tool holds; a function tool holds nothing."""

    def __enter__(self) -> Tool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, risk={self.risk.value})"

    def _call_kwargs(self, validated: BaseModel, ctx: ToolContext[Any]) -> dict[str, Any]:
        # Fields as validated objects (not model_dump) so nested models reach the function as models.
        kwargs = {name: getattr(validated, name) for name in type(validated).model_fields}
        kwargs.update(validated.model_extra or {})  # an args model that allows extra fields passes them on
        if self._context_param is not None:
            kwargs[self._context_param] = ctx
        return kwargs

    def _execution_error(self, exc: Exception) -> ToolExecutionError:
        return ToolExecutionError(f"tool `{self.name}` failed: {type(exc).__name__}: {exc}")

    def _expected(self) -> str:
        schema = self.json_schema()
        required = set(schema.get("required", []))
        parts = []
        for field, prop in schema.get("properties", {}).items():
            kind = _kind(prop)
            parts.append(f"{field} ({kind}{', required' if field in required else ''})")
        return f"Expected arguments: {', '.join(parts) or 'none'}."

    def _describe_invalid(self, exc: ValidationError) -> str:
        lines = [f"invalid arguments for tool `{self.name}`:"]
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(arguments)"
            if err["type"] == "extra_forbidden":
                problem = "unknown argument"
            elif err["type"] == "missing":
                problem = "required argument is missing"
            else:
                problem = f"{err['msg']} (got {_short(err.get('input'))})"
            lines.append(f"- `{field}`: {problem}")
        lines.append(f"Call `{self.name}` again with corrected arguments. {self._expected()}")
        return "\n".join(lines)


def to_tool_result(value: Any) -> ToolResult:
    """What a tool function returned, as a ToolResult: text as is, data as JSON."""
    if isinstance(value, ToolResult):
        return value
    if value is None:
        return ToolResult(text="(done, no output)")
    if isinstance(value, str):
        return ToolResult(text=value)
    if isinstance(value, BaseModel):
        return ToolResult(text=value.model_dump_json())
    try:
        return ToolResult(text=json.dumps(value, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        return ToolResult(text=str(value))


def _run_coroutine_blocking(make: Callable[[], Awaitable[Any]]) -> Any:
    """Run an async tool from sync code, also when this thread already runs an event loop."""

    async def _call() -> Any:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_call())
    # A loop runs in this thread: asyncio.run would fail, so the coroutine gets its own thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _call()).result()


def _kind(prop: dict[str, Any]) -> str:
    """A property's JSON type in words: "string", "object" for a nested model, "integer or null"."""
    if "type" in prop:
        return str(prop["type"])
    if "$ref" in prop:
        return "object"
    options = prop.get("anyOf") or prop.get("oneOf")
    if options:
        return " or ".join(_kind(option) for option in options)
    return "value"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _without_titles(schema: Any, in_properties: bool = False) -> Any:
    """Drop pydantic's generated ``title`` keys (noise for the model), keeping properties named title."""
    if isinstance(schema, dict):
        return {
            key: _without_titles(value, in_properties=(key in ("properties", "$defs") and not in_properties))
            for key, value in schema.items()
            if in_properties or not (key == "title" and isinstance(value, str))
        }
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    return schema
