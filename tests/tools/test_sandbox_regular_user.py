"""The sandbox's tests again as a regular user, where the uid mapping, cgroups and bubblewrap differ.

Run as root (as CI is), this starts the sandbox test files once more as ``nobody``. The interpreter
may live where ``nobody`` cannot go (pyenv under a 0700 ``/root``): rather than loosen any permission
of the machine, the run gets a private mount namespace in which each such folder is covered by a
tmpfs holding only bind mounts of what the tests need. Run as a regular user already, this suite's own
sandbox tests are that proof.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from heron.tools.sandbox import Sandbox
from heron.tools.sandbox.userns import userns_blocker

REPO_ROOT = Path(__file__).resolve().parents[2]
REGULAR_USER = "nobody"
SANDBOX_TESTS = (
    "tests/tools/test_sandbox.py",
    "tests/tools/test_sandbox_hostile.py",
    "tests/tools/test_sandbox_seccomp.py",
)


@pytest.mark.slow
def test_the_sandbox_tests_pass_as_a_regular_user(tmp_path: Path) -> None:
    if os.geteuid() != 0:  # this very run is a regular user's, its sandbox tests included
        with Sandbox(tmp_path) as box:
            assert box.run_cell("1 + 1").value == "2" and "seccomp: on" in box.describe()
        return
    user = pwd.getpwnam(REGULAR_USER)
    blocker = userns_blocker(euid=user.pw_uid)
    home = Path(tempfile.mkdtemp(prefix="heron-regular-user-"))
    stash = Path(tempfile.mkdtemp(prefix="heron-regular-user-stash-"))  # root's, 0700
    try:
        os.chown(home, user.pw_uid, user.pw_gid)
        needed = [REPO_ROOT, Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable), home]
        if blocker is None:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not model",
                       f"--basetemp={home / 'pytest'}", *SANDBOX_TESTS]  # fmt: skip
        else:  # the sandbox must refuse to start, naming the setting to enable
            command = [sys.executable, "-c", TRY_A_SANDBOX]
        script = as_user_script(REGULAR_USER, needed, stash, home, command)
        out = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=480,
            check=False,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(stash, ignore_errors=True)
    report = out.stdout[-6000:] + out.stderr[-3000:]
    assert out.stdout.splitlines()[:1] == [str(user.pw_uid)], report  # it ran as the regular user
    if blocker is not None:
        assert out.returncode == 0 and blocker in out.stdout, report
        return
    assert out.returncode == 0, report
    summary = out.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "skipped" not in summary, report


TRY_A_SANDBOX = """
import tempfile
from heron.errors import SandboxUnavailableError
from heron.tools.sandbox import Sandbox
with tempfile.TemporaryDirectory() as workspace, Sandbox(workspace) as box:
    try:
        box.run_cell('1')
        print('the sandbox started')
    except SandboxUnavailableError as exc:
        print(exc.hint)
"""


def as_user_script(user: str, needed: Iterable[Path], stash: Path, home: Path, command: list[str]) -> str:
    """Shell lines for a private mount namespace: make ``needed`` reachable, then run as ``user``."""
    paths = [Path(os.path.realpath(path)) for path in needed]
    lines = []
    for index, blocked in enumerate(blocked_folders(paths)):
        saved = stash / str(index)
        lines += [f"mkdir {q(saved)}", f"mount --bind {q(blocked)} {q(saved)}",
                  f"mount -t tmpfs -o mode=0755,size=1m heron-regular-user {q(blocked)}"]  # fmt: skip
        for name in sorted({path.relative_to(blocked).parts[0] for path in paths if blocked in path.parents}):
            make = "mkdir" if (blocked / name).is_dir() else "touch"
            lines += [f"{make} {q(blocked / name)}", f"mount --bind {q(saved / name)} {q(blocked / name)}"]
    uid = pwd.getpwnam(user).pw_uid
    for path in paths:
        if path.is_dir() and path.stat().st_uid != uid and stat.S_IMODE(path.stat().st_mode) & 0o005 != 0o005:
            raise AssertionError(
                f"{path} is not readable by other users; the regular user cannot run from it"
            )
    environment = [
        "PATH=/usr/local/bin:/usr/bin:/bin",
        f"HOME={home}",
        "LANG=C.UTF-8",
        "PYTHONDONTWRITEBYTECODE=1",
    ]
    announce = "sh -c 'id -u; exec \"$@\"' sh"  # the first line of output: the uid it ran as
    variables = " ".join(map(q, environment))
    lines.append(f"exec runuser -u {user} -- env -i {variables} {announce} {' '.join(map(q, command))}")
    return "\n".join(lines)


def blocked_folders(paths: list[Path]) -> list[Path]:
    """Folders on the way to ``paths`` that other users may not enter, outermost first."""
    found: set[Path] = set()
    for path in paths:
        for folder in reversed(path.parents):
            if stat.S_IMODE(folder.stat().st_mode) & 0o001 == 0:
                found.add(folder)
    return sorted(found, key=lambda folder: len(folder.parts))


def q(value: object) -> str:
    return shlex.quote(str(value))
