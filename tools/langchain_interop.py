"""Conversion both ways between heron tools and LangChain tools (``BaseTool`` / ``StructuredTool``).

The argument schema survives the trip: a heron tool's pydantic model becomes the LangChain tool's
``args_schema`` and back, so ``json_schema()`` is unchanged by ``from_langchain(to_langchain(t))``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel

from heron.errors import ModelRetry, ToolExecutionError
from heron.tools.base import Tool, check_tool_name
from heron.tools.context import ToolContext
from heron.tools.json_schema_args import args_model_from_json_schema
from heron.tools.results import Artifact, Risk, ToolResult


def to_langchain(heron_tool: Tool, ctx: ToolContext[Any]) -> StructuredTool:
    """A LangChain ``StructuredTool`` that runs ``heron_tool`` with ``ctx``.

    It answers in LangChain's ``content_and_artifact`` format (the artifacts are heron
    :class:`Artifact` objects). Bad arguments, failed calls and exceptions the tool raised raise
    ``ToolException`` with the message for the model, which LangChain hands back as an error
    ``ToolMessage`` (``handle_tool_error``).
    """

    def run(**kwargs: Any) -> tuple[str, list[Artifact]]:
        try:
            result = heron_tool.invoke(kwargs, ctx)
        except (ModelRetry, ToolExecutionError) as exc:
            raise ToolException(str(exc)) from exc
        return _content_and_artifact(result)

    async def arun(**kwargs: Any) -> tuple[str, list[Artifact]]:
        try:
            result = await heron_tool.ainvoke(kwargs, ctx)
        except (ModelRetry, ToolExecutionError) as exc:
            raise ToolException(str(exc)) from exc
        return _content_and_artifact(result)

    # A tool wrapped from a JSON-schema LangChain tool goes back with that same dict schema.
    schema: Any = heron_tool.explicit_schema or heron_tool.args_model
    return StructuredTool.from_function(
        func=run,
        coroutine=arun,
        name=heron_tool.name,
        description=heron_tool.description,
        args_schema=schema,
        infer_schema=False,
        response_format="content_and_artifact",
        handle_tool_error=True,
    )


def from_langchain(lc_tool: BaseTool, risk: Risk = Risk.HIGH) -> Tool:
    """A heron :class:`Tool` that calls ``lc_tool``; its arguments keep the LangChain schema.

    heron cannot know what a foreign tool does, so its ``risk`` defaults to HIGH (ask first).
    """
    args_model, schema = _arguments_of(lc_tool)

    def call(**kwargs: Any) -> ToolResult:
        return _tool_result(lc_tool.invoke(_tool_call(lc_tool, kwargs)))

    async def acall(**kwargs: Any) -> ToolResult:
        return _tool_result(await lc_tool.ainvoke(_tool_call(lc_tool, kwargs)))

    return _LangChainTool(
        name=check_tool_name(lc_tool.name),
        description=lc_tool.description or lc_tool.name,
        args_model=args_model,
        function=call,
        async_function=acall,
        risk=risk,
        schema=schema,
    )


class _LangChainTool(Tool):
    """A wrapped LangChain tool: sync calls use ``invoke``, async calls ``ainvoke``."""

    def __init__(self, *, async_function: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._async_function = async_function

    async def ainvoke(self, args: Any, ctx: ToolContext[Any]) -> ToolResult:
        validated = self.validate_args(args)
        kwargs = {name: getattr(validated, name) for name in type(validated).model_fields}
        return await self._async_function(**kwargs)


def _arguments_of(lc_tool: BaseTool) -> tuple[type[BaseModel], dict[str, Any] | None]:
    """The pydantic model that validates the tool's arguments, and its JSON schema when it is a dict."""
    declared = lc_tool.args_schema
    if isinstance(declared, type) and issubclass(declared, BaseModel):
        return declared, None
    if isinstance(declared, dict):
        return args_model_from_json_schema(lc_tool.name, declared), declared
    if declared is not None and hasattr(declared, "schema"):  # a pydantic v1 model
        json_schema = declared.schema()
        return args_model_from_json_schema(lc_tool.name, json_schema), json_schema
    model: type[BaseModel] = lc_tool.get_input_schema()  # type: ignore[assignment]
    return model, None


def _tool_call(lc_tool: BaseTool, kwargs: dict[str, Any]) -> dict[str, Any]:
    # A full tool call (not bare args) makes LangChain return a ToolMessage with status and artifact.
    return {"type": "tool_call", "name": lc_tool.name, "args": kwargs, "id": f"heron-{uuid.uuid4().hex[:12]}"}


def _tool_result(output: Any) -> ToolResult:
    if isinstance(output, ToolMessage):
        artifacts = output.artifact if isinstance(output.artifact, list) else []
        return ToolResult(
            text=_text_of(output.content),
            artifacts=[a for a in artifacts if isinstance(a, Artifact)],
            is_error=output.status == "error",
        )
    return ToolResult(text=_text_of(output))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "\n".join(str(p.get("text", "")) for p in content)
    return json.dumps(content, ensure_ascii=False, default=str)


def _content_and_artifact(result: ToolResult) -> tuple[str, list[Artifact]]:
    if result.is_error:
        raise ToolException(result.text)
    return result.text, list(result.artifacts)
