"""Can this user create user namespaces (bubblewrap's basis), and if not, which setting to change?"""

from __future__ import annotations

import os
from pathlib import Path

PROC_SYS = Path("/proc/sys")
GENERIC_HINT = (
    "bubblewrap needs unprivileged user namespaces: check the sysctls kernel.unprivileged_userns_clone "
    "(Debian/Ubuntu kernels), user.max_user_namespaces and kernel.apparmor_restrict_unprivileged_userns "
    "(Ubuntu 23.10 and later); `heron doctor` re-checks"
)


def userns_blocker(proc_sys: Path = PROC_SYS, euid: int | None = None) -> str | None:
    """The kernel setting that stops this user from creating user namespaces, with the command that
    enables it; None when none of the known settings is in the way."""
    euid = os.geteuid() if euid is None else euid
    if _read_int(proc_sys / "user" / "max_user_namespaces") == 0:
        return _enable("user.max_user_namespaces", "user.max_user_namespaces is 0", "15000")
    if euid == 0:  # the two switches below hold back unprivileged users only
        return None
    if _read_int(proc_sys / "kernel" / "unprivileged_userns_clone") == 0:
        return _enable(
            "kernel.unprivileged_userns_clone",
            "kernel.unprivileged_userns_clone is 0 (unprivileged user namespaces are off)",
            "1",
        )
    if _read_int(proc_sys / "kernel" / "apparmor_restrict_unprivileged_userns") == 1:
        return (
            "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns"
            " is 1): give bwrap an AppArmor profile with the `userns` permission (Ubuntu: "
            "/etc/apparmor.d/bwrap-userns-restrict, then `sudo apparmor_parser -r` it), or turn the "
            "restriction off with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`"
        )
    return None


def _enable(name: str, problem: str, value: str) -> str:
    return (
        f"{problem}: enable it with `sudo sysctl -w {name}={value}`, and keep it across reboots with "
        f"`echo '{name} = {value}' | sudo tee /etc/sysctl.d/50-heron-userns.conf`"
    )


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
