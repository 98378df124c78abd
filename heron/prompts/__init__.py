"""Prompt templates: ``*.j2`` files rendered with strict undefined variables, so prompts are data.

One loader for every layer: each package keeps its own templates in its ``prompts/`` folder and
renders them through a :class:`Templates` of its own (``heron.agents.templates``,
``heron.evals.templates``); the core's own (the chat REPL's system prompt) live in this folder.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import jinja2


class Templates:
    """The templates in ``<package>/<folder>/*.j2``: ``Templates("heron.agents").render("agent_system")``
    renders ``agents/prompts/agent_system.j2``."""

    def __init__(self, package: str, folder: str = "prompts") -> None:
        self.package, self.folder = package, folder

    @cached_property
    def _environment(self) -> jinja2.Environment:
        return jinja2.Environment(
            loader=jinja2.PackageLoader(self.package, self.folder),
            undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
        )

    def render(self, name: str, **variables: Any) -> str:
        """Render the template ``<name>.j2`` with ``variables``; a missing variable raises."""
        return self._environment.get_template(f"{name}.j2").render(**variables).strip()


render = Templates("heron").render  # the core's own templates, in this folder
