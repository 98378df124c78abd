"""The evals' prompts: ``evals/prompts/*.j2`` (judges, benchmark questions)."""

from __future__ import annotations

from heron.prompts import Templates

render = Templates("heron.evals").render
