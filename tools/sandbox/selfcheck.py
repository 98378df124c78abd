"""``self_check``: can this machine start a sandbox, and what does it isolate? Used by ``heron doctor``."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Literal

from heron.config import Settings
from heron.errors import HeronError, SandboxUnavailableError
from heron.tools.sandbox.launch import INSTALL_HINT
from heron.tools.sandbox.session import Sandbox


@dataclass(frozen=True)
class SelfCheck:
    status: Literal["ok", "warn", "problem"]
    detail: str
    fix: str = ""


def self_check(settings: Settings) -> SelfCheck:
    """Start a real sandbox in a temp workspace and run one cell. Never raises."""
    if settings.sandbox.unsafe_no_sandbox:
        return SelfCheck(
            "warn",
            "UNSAFE: sandbox.unsafe_no_sandbox is on; model-written code runs directly on this machine",
            "unset HERON_SANDBOX__UNSAFE_NO_SANDBOX (or unsafe_no_sandbox in heron.toml)",
        )
    with tempfile.TemporaryDirectory(prefix="heron-selfcheck-") as workspace:
        try:
            with Sandbox(workspace, settings.sandbox) as box:
                result = box.run_cell("sum(range(7))")
                description = box.describe()
        except SandboxUnavailableError as exc:
            return SelfCheck("problem", exc.problem, exc.hint or INSTALL_HINT)
        except (HeronError, OSError) as exc:
            return SelfCheck("problem", f"the sandbox failed to start: {exc}", "run `heron doctor` again; "
                             "if it persists, report the message")  # fmt: skip
    if result.value != "21":
        return SelfCheck("problem", f"the sandbox started but a test cell failed: {result.to_text()}",
                         "check the sandbox.python setting")  # fmt: skip
    detail = "; ".join(line for line in description.splitlines() if line)
    if "cgroup limits: none" in description or "WARNING" in description:
        return SelfCheck(
            "warn",
            detail,
            "without cgroups the kernel bounds each process (rlimits) and heron watches the sandbox's total "
            "memory from the host (it stops the whole sandbox, up to 50 ms late); to let the kernel bound "
            "the sandbox as a whole, let heron create cgroups (memory, pids); as root, also run heron as a "
            "regular user so that the process-count limit applies",
        )
    return SelfCheck("ok", detail)
