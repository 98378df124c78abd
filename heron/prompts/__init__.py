"""Prompt templates: ``*.j2`` files in this folder, rendered with strict undefined variables.

Every prompt heron sends lives here, so prompts are data: ``render("agent_system", tools=...)``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("heron", "prompts"),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(name: str, **variables: Any) -> str:
    """Render the template ``<name>.j2`` with ``variables``; a missing variable raises."""
    return _environment().get_template(f"{name}.j2").render(**variables).strip()
