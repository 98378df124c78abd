"""What a tool hands back: text for the model, structured artifacts, and the tool's risk level."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Risk(enum.StrEnum):
    """How much harm a tool call can do. The agent asks for approval before ``HIGH`` tools."""

    LOW = "low"
    HIGH = "high"


ArtifactKind = Literal["file", "image", "citation"]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp"})


class Artifact(BaseModel):
    """Something a tool produced or used besides its text: a file, an image, a citation.

    ``path`` is relative to the workspace for files and images; ``uri`` names anything else
    (a document id, a URL). ``metadata`` holds kind-specific details (bytes, page, score, ...).
    """

    model_config = ConfigDict(frozen=True)

    kind: ArtifactKind
    path: Path | None = None
    uri: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_something(self) -> Artifact:
        if self.path is None and self.uri is None:
            raise ValueError("an artifact needs a path or a uri")
        return self

    @classmethod
    def for_file(cls, path: Path, **metadata: Any) -> Artifact:
        """A file artifact, typed ``image`` when the suffix says it is one."""
        kind: ArtifactKind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "file"
        return cls(kind=kind, path=path, metadata=metadata)


class ToolResult(BaseModel):
    """The outcome of one tool call. ``text`` goes to the model; ``is_error`` marks a failed call
    whose text explains the failure (a traceback, a refusal) so the model can react to it."""

    model_config = ConfigDict(frozen=True)

    text: str
    artifacts: list[Artifact] = Field(default_factory=list)
    is_error: bool = False

    @classmethod
    def error(cls, text: str, artifacts: list[Artifact] | None = None) -> ToolResult:
        return cls(text=text, artifacts=artifacts or [], is_error=True)
