"""The agent's prompts: ``agents/prompts/*.j2`` (system prompt, hints, the first-call check)."""

from __future__ import annotations

from heron.prompts import Templates

render = Templates("heron.agents").render
