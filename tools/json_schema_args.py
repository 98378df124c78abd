"""Argument models for tools declared by a JSON schema (LangChain tools, MCP servers' tools)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model


def args_model_from_json_schema(name: str, schema: dict[str, Any]) -> type[BaseModel]:
    """A permissive model with the schema's fields: unknown and missing required arguments are
    refused here; the values' types are the grammar's and the tool's to check. An argument the
    model leaves out stays unset (``model_dump(exclude_unset=True)`` omits it). A property whose
    name cannot be a pydantic field (``_id``, ``model_dump``, ``a-b``) gets a field of another name
    with the property's name as its alias: dump ``by_alias`` to get the names back."""
    required = set(schema.get("properties", {})) & set(schema.get("required", []))
    fields: dict[str, Any] = {}
    for i, prop in enumerate(schema.get("properties", {})):
        needed = ... if prop in required else None
        if _usable_field_name(prop):
            fields[prop] = (Any, Field(needed))
        else:
            fields[f"arg_{i}"] = (Any, Field(needed, alias=prop))
    model_name = (
        "".join(part.title() for part in name.replace("-", "_").replace(".", "_").split("_")) + "Args"
    )
    return create_model(model_name, __config__=ConfigDict(extra="forbid"), **fields)


def _usable_field_name(name: str) -> bool:
    return name.isidentifier() and not name.startswith("_") and not hasattr(BaseModel, name)
