"""How the prompts show a tool: its name, argument signature, description and argument notes."""

from __future__ import annotations

import json

from heron.tools import Tool


def tool_signature(tool: Tool) -> str:
    """``expression: string, precision?: integer`` from the tool's argument schema, for the prompt."""
    schema = tool.json_schema()
    required = set(schema.get("required", []))
    parts = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or ("enum" if "enum" in prop else "value")
        if "enum" in prop:
            kind = "|".join(json.dumps(v) for v in prop["enum"])
        parts.append(f"{name}{'' if name in required else '?'}: {kind}")
    return ", ".join(parts)


def argument_notes(tool: Tool) -> str:
    """``base: the base of the triangle; unit: "cm" or "in" (default "cm")``: each described
    argument's description (from the docstring's Args section or the schema) and the default an
    optional one takes when left out, for the tool list; empty if no argument has a description."""
    properties = tool.json_schema().get("properties", {})
    notes = []
    for name, prop in properties.items():
        if not prop.get("description"):
            continue
        note = f"{name}: {' '.join(str(prop['description']).split())}"
        if prop.get("default") is not None:
            note += f" (default {json.dumps(prop['default'])})"
        notes.append(note)
    return "; ".join(notes)


def tool_listing(tool: Tool) -> dict[str, str]:
    """What the prompts show of a tool: its name, signature, description and argument notes."""
    return {
        "name": tool.name,
        "description": tool.description,
        "signature": tool_signature(tool),
        "arguments": argument_notes(tool),
    }
