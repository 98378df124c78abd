"""``CellResult``: what one cell printed, returned and created, and whether the session survived it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from heron.tools.results import Artifact

STATE_LOST_NOTE = (
    "The sandbox was stopped and a fresh one started: all variables, imports and background "
    "processes from earlier cells are gone. Files in the workspace are kept."
)


class CellResult(BaseModel):
    """The outcome of ``Sandbox.run_cell``. ``value`` is the repr of a final expression."""

    stdout: str = ""
    stderr: str = ""
    value: str | None = None
    error: str | None = None
    state_lost: bool = False
    lost_reason: str | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    removed_files: list[str] = Field(default_factory=list)
    seconds: float = 0.0
    sandboxed: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None and not self.state_lost

    def to_text(self) -> str:
        """The result as the model reads it: sections for output, value, error, restarts and files."""
        parts = []
        if self.stdout:
            parts.append(f"[stdout]\n{self.stdout.rstrip()}")
        if self.stderr:
            parts.append(f"[stderr]\n{self.stderr.rstrip()}")
        if self.value is not None:
            parts.append(f"[value]\n{self.value}")
        if self.error:
            parts.append(f"[error]\n{self.error.rstrip()}")
        if self.state_lost:
            parts.append(
                f"[sandbox restarted] {self.lost_reason or 'the sandbox stopped'}. {STATE_LOST_NOTE}"
            )
        if self.removed_files:
            parts.append(
                "[files removed to keep the workspace under its cap]\n" + "\n".join(self.removed_files)
            )
        if self.artifacts:
            lines = [f"{a.metadata.get('change', 'created')}: {a.path} ({a.metadata.get('bytes', 0)} bytes)"
                     for a in self.artifacts]  # fmt: skip
            parts.append("[files]\n" + "\n".join(lines))
        return "\n\n".join(parts) if parts else "(no output)"
