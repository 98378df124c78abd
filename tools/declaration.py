"""``@tool``: a typed Python function with a docstring becomes a :class:`Tool`."""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, overload

from pydantic import BaseModel, ConfigDict, Field, PydanticUserError, TypeAdapter, create_model

from heron.errors import ToolDeclarationError
from heron.tools.base import Tool, check_tool_name
from heron.tools.context import ToolContext
from heron.tools.docstrings import parse_docstring
from heron.tools.results import Risk

LONG_TEXT_CHARS = 3000  # about what one turn's 1,024 tokens hold, with the call around it
LongText = Annotated[str, Field(max_length=LONG_TEXT_CHARS)]
"""A tool parameter for long text (a file's content, a script): up to ``LONG_TEXT_CHARS`` characters
where other strings get ``AgentConfig.argument_chars`` (800). ``def save(text: LongText)``."""


@dataclass(frozen=True)
class FunctionSpec:
    """What a function's signature and docstring say about the tool it makes."""

    name: str
    description: str
    args_model: type[BaseModel]
    context_param: str | None
    required_deps: Any = None  # the type of ``ToolContext[Deps]``'s deps, unless they may be None


@overload
def tool(function: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    risk: Risk = Risk.LOW,
    cites: bool = False,
    think: bool = False,
    concurrent: bool = False,
    repeats_allowed: tuple[str, ...] = (),
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    risk: Risk = Risk.LOW,
    cites: bool = False,
    think: bool = False,
    concurrent: bool = False,
    repeats_allowed: tuple[str, ...] = (),
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Turn a typed function (sync or async) with a docstring into a :class:`Tool`.

    Every parameter needs a type hint and the function a return hint and a docstring; the
    docstring's ``Args:`` section describes the parameters. A parameter annotated ``ToolContext``
    receives the run context and is not shown to the model. ``cites=True`` says the tool returns
    passages to cite (citation artifacts); with ``require_citations`` an agent calls such a tool
    before anything else. ``think=True`` is for tools whose arguments the model composes (code, a
    document): with a model big enough to use it (``AgentConfig.thought_chars``) a call of the tool
    starts with a short thought, written before the arguments; other calls go straight to them.
    ``concurrent=True`` says calls of the tool may run at the same time as each other and as other
    such calls (it only reads, and keeps no state between calls): a turn whose calls are all of
    concurrent tools runs them in parallel threads, any other batch runs in order. A ``think`` tool's
    call is never written after another call of its turn: it waits for their results
    (``heron.agents.actions.waits_for_results``).
    ``repeats_allowed`` names string arguments that are data the model composes or copies (a file's
    text, code), where repeated lines and phrases are the content: the agent's repetition penalty
    (``AgentConfig.repetition``) does not act inside them, as it does in answers and other arguments::

        @tool(risk=Risk.HIGH)
        def delete_note(title: str, ctx: ToolContext) -> str:
            \"\"\"Delete a note from the workspace.

            Args:
                title: the note's title, as listed by list_notes
            \"\"\"

    Raises ToolDeclarationError at declaration when something is missing.
    """

    def make(fn: Callable[..., Any]) -> Tool:
        spec = describe_function(fn, name=name, description=description)
        return Tool(
            name=spec.name,
            description=spec.description,
            args_model=spec.args_model,
            function=fn,
            risk=risk,
            context_param=spec.context_param,
            required_deps=spec.required_deps,
            cites=cites,
            think=think,
            concurrent=concurrent,
            repeats_allowed=repeats_allowed,
        )

    if function is not None:
        return make(function)
    return make


def describe_function(
    fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
) -> FunctionSpec:
    """Read name, description and the arguments model from ``fn``; raises ToolDeclarationError."""
    tool_name = check_tool_name(name or str(getattr(fn, "__name__", "")))
    where = f"tool `{tool_name}`"
    # __doc__, not inspect.getdoc: a method must not borrow its parent class's docstring.
    doc = inspect.cleandoc(fn.__doc__ or "")
    if not doc.strip():
        raise ToolDeclarationError(
            f"{where} has no docstring; the model reads it to decide when to call the tool",
            f'add a docstring to `{tool_name}`: one line saying what it does, then an "Args:" section',
        )
    parsed = parse_docstring(doc)
    hints = _type_hints(fn, where)
    if "return" not in hints:
        raise ToolDeclarationError(
            f"{where} has no return type hint",
            f"annotate what `{tool_name}` returns, e.g. `def {tool_name}(...) -> str:`",
        )
    fields: dict[str, Any] = {}
    context_param: str | None = None
    required_deps: Any = None
    for param in inspect.signature(fn).parameters.values():
        _check_parameter_kind(param, where)
        if param.name not in hints:
            raise ToolDeclarationError(
                f"parameter `{param.name}` of {where} has no type hint",
                f"annotate it, e.g. `{param.name}: str` (pydantic validates the model's arguments "
                "against the hints)",
            )
        annotation = hints[param.name]
        if is_context_annotation(annotation):
            context_param, required_deps = param.name, _required_deps(annotation)
            continue
        _check_parameter_type(annotation, param.name, where)
        default = ... if param.default is inspect.Parameter.empty else param.default
        field_description = parsed.args.get(param.name)
        fields[param.name] = (
            annotation,
            Field(default, description=field_description) if field_description else Field(default),
        )
    unknown = set(parsed.args) - set(fields) - ({context_param} if context_param else set())
    if unknown:
        raise ToolDeclarationError(
            f"the docstring of {where} describes arguments it does not take: {', '.join(sorted(unknown))}",
            "fix the names in the docstring's Args: section to match the parameters",
        )
    args_model = create_model(_model_name(tool_name), __config__=ConfigDict(extra="forbid"), **fields)
    return FunctionSpec(
        name=tool_name,
        description=description or parsed.description or doc.strip(),
        args_model=args_model,
        context_param=context_param,
        required_deps=required_deps,
    )


def _check_parameter_type(annotation: Any, name: str, where: str) -> None:
    """The model sends arguments as JSON: a parameter's type must have a JSON schema pydantic can
    validate against (not a class of your own without one, or a callable)."""
    try:
        TypeAdapter(annotation).json_schema()
    except PydanticUserError as exc:
        label = getattr(annotation, "__name__", None) or repr(annotation)
        raise ToolDeclarationError(
            f"parameter `{name}` of {where} has the type {label}, which the model cannot send as JSON",
            "use JSON-like types (str, int, float, bool, list, dict, Literal, Enum, a pydantic model or "
            f"a dataclass of those) and build the object inside the tool ({type(exc).__name__})",
        ) from exc


def is_context_annotation(annotation: Any) -> bool:
    """True for ``ToolContext`` and ``ToolContext[Deps]``."""
    return annotation is ToolContext or typing.get_origin(annotation) is ToolContext


def _required_deps(context: Any) -> Any:
    """The deps type a ``ToolContext[Deps]`` annotation asks for; None for a bare ``ToolContext`` or
    deps that may be missing (``ToolContext[Deps | None]``, ``ToolContext[Any]``, ``[object]``)."""
    (deps,) = typing.get_args(context) or (None,)
    if deps is None or deps is Any or deps is object or type(None) in typing.get_args(deps):
        return None
    return deps


def _type_hints(fn: Callable[..., Any], where: str) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as exc:
        raise ToolDeclarationError(
            f"the type hints of {where} cannot be resolved: {exc}",
            "define or import every type used in the signature at module level",
        ) from exc


def _check_parameter_kind(param: inspect.Parameter, where: str) -> None:
    if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise ToolDeclarationError(
            f"{where} takes {'*' if param.kind is inspect.Parameter.VAR_POSITIONAL else '**'}{param.name};"
            " a tool needs named, typed parameters",
            "list each argument as its own typed parameter",
        )
    if param.kind is inspect.Parameter.POSITIONAL_ONLY:
        raise ToolDeclarationError(
            f"parameter `{param.name}` of {where} is positional-only; tools are called with named arguments",
            "remove the `/` from the signature",
        )
    if param.name.startswith("_"):
        raise ToolDeclarationError(
            f"parameter `{param.name}` of {where} starts with '_', which the argument schema cannot hold",
            "rename it without the leading underscore",
        )


def _model_name(tool_name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_-]+", tool_name) if part) + "Args"
