"""The memory layer's prompts: ``memory/prompts/*.j2`` (retrieval's relevance check)."""

from __future__ import annotations

from heron.prompts import Templates

render = Templates("heron.memory").render
