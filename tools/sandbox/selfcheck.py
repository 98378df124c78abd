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
    # Without cgroups the sandbox is still bounded as a whole: the host watches its total memory
    # (memory_guard) and, for a regular user, the kernel applies the process-count rlimit. Only root
    # without a pids cgroup has no process-count limit, which describe() flags as a WARNING.
    if settings.sandbox.unsafe_no_seccomp:
        return SelfCheck(
            "warn",
            f"UNSAFE: sandbox.unsafe_no_seccomp is on; {detail}",
            "unset HERON_SANDBOX__UNSAFE_NO_SECCOMP (or unsafe_no_seccomp in heron.toml)",
        )
    if "WARNING" in description:
        return SelfCheck(
            "warn",
            detail,
            "run heron as a regular user (the kernel does not apply the process-count rlimit to root), "
            "or let heron create a pids cgroup",
        )
    return SelfCheck("ok", detail)
