"""Argument models for tools declared by a JSON schema (LangChain tools, MCP servers' tools)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model


def args_model_from_json_schema(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A permissive model with the schema's fields: unknown and missing required arguments are
    refused here; the values' types are the grammar's and the tool's to check. An argument the
    model leaves out stays unset (``model_dump(exclude_unset=True)`` omits it)."""
    required = set(schema.get("required", []))
    fields: dict[str, Any] = {
        field: (Any, Field(...) if field in required else Field(None))
        for field in schema.get("properties", {})
    }
    model_name = (
        "".join(part.title() for part in name.replace("-", "_").replace(".", "_").split("_")) + "Args"
    )
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)
