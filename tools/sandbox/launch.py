"""The command line that starts a sandbox worker: bubblewrap's isolation, the interpreter, the limits.

Inside the sandbox the worker sees only: ``/usr`` (and the ``/bin``, ``/lib*`` links), a few
files of ``/etc`` (no passwd of the host, no shadow), the interpreter and, read-only, the
host environment's installed packages under ``/opt/heron``, a fresh ``/proc`` and ``/dev``,
size-capped private ``/tmp`` and ``/dev/shm``, and the workspace at ``/workspace``. Every
namespace is new (user, pid, net, mount, ipc, uts, cgroup); creating further user namespaces is
disabled. It runs as uid/gid 1000 with no capabilities (and ``no_new_privs``), no environment
from the host and a new session, and dies with its parent. A seccomp filter (see ``syscall_filter``)
refuses the system calls Docker's default profile refuses; only ``sandbox.unsafe_no_seccomp`` lifts it.

The user namespace maps uid 1000 to the uid running heron. When that is root, the kernel does not
apply the process-count rlimit to the sandbox, so the cgroup ``pids`` limit (see ``cgroups``) is
what stops a fork bomb; ``Sandbox.describe()`` and ``heron doctor`` say which limits are in force.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from heron.config import SandboxSettings
from heron.errors import SandboxUnavailableError
from heron.tools.sandbox.syscall_filter import compiled_filter

SANDBOX_UID = 1000  # uid and gid of the code inside the sandbox
INSIDE_WORKSPACE = "/workspace"
INSIDE_PYTHON = "/opt/heron/python"
INSIDE_SITE = "/opt/heron/site-packages"
INSIDE_WORKER = "/opt/heron/worker.py"
WORKER_SOURCE = Path(__file__).with_name("worker.py")

INSTALL_HINT = (
    "install bubblewrap: `sudo apt-get install bubblewrap` (Debian/Ubuntu), `sudo dnf install bubblewrap` "
    "(Fedora), `sudo pacman -S bubblewrap` (Arch). Only for debugging, and at your own risk, "
    "sandbox.unsafe_no_sandbox = true runs model-written code directly on this machine"
)
# Files of /etc that programs need; everything else there (shadow, the host's users, ssh) stays out.
ETC_FILES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "fonts", "mime.types",
    "ssl/certs", "nsswitch.conf",
)  # fmt: skip
SYSTEM_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass
class LaunchPlan:
    """Everything ``subprocess.Popen`` needs to start one worker."""

    argv: list[str]
    env: dict[str, str]
    pass_fds: list[int]
    sandboxed: bool
    cwd: Path | None = None
    owned_fds: list[int] = field(default_factory=list)  # data fds to close once the worker started
    notes: list[str] = field(default_factory=list)
    syscall_filter: str = "seccomp: none (no sandbox)"  # one line for describe()


def find_bwrap() -> str:
    """Path of bwrap; raises SandboxUnavailableError naming the install command when it is missing."""
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailableError(
            "bubblewrap (bwrap) is not installed, so model-written code cannot run in a sandbox", INSTALL_HINT
        )
    return found


@functools.cache
def bwrap_version(bwrap: str) -> tuple[int, ...]:
    """bubblewrap's version as numbers, e.g. (0, 8, 0); (0,) when it cannot be read."""
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10, check=False)
        return tuple(int(part) for part in out.stdout.split()[-1].split("."))
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return (0,)


def worker_limits(settings: SandboxSettings) -> dict[str, int]:
    mib = 2**20
    return {
        "address_space": settings.memory_mb * mib,
        "processes": settings.max_processes,
        "file_size": settings.max_file_mb * mib,
        "open_files": settings.max_open_files,
        "core": 0,
    }


def plan_sandboxed(
    workspace: Path, settings: SandboxSettings, cmd_fd: int, reply_fd: int, marker: str
) -> LaunchPlan:
    """The bubblewrap command for one worker; see the module docstring for what it isolates."""
    bwrap = find_bwrap()
    compiled = None if settings.unsafe_no_seccomp else compiled_filter()  # may raise: before any fd opens
    notes: list[str] = []
    python_inside, python_binds, library_path = _interpreter(settings)
    site_binds = _site_packages(settings)
    owned: list[int] = []
    modern = bwrap_version(bwrap) >= (0, 8)  # --disable-userns and sized tmpfs came with bubblewrap 0.8
    if not modern:
        notes.append("bubblewrap < 0.8: nested user namespaces allowed, /tmp size bounded by the cgroup only")
    args = [
        "--unshare-all", "--unshare-user", *(["--disable-userns"] if modern else []), "--die-with-parent",
        "--new-session", "--clearenv", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--hostname", "heron-sandbox",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    for name in SYSTEM_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for inside, content in (
        ("/etc/passwd", f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:heron sandbox:/tmp:/usr/sbin/nologin\n"),
        ("/etc/group", f"sandbox:x:{SANDBOX_UID}:\n"),
        ("/etc/hostname", "heron-sandbox\n"),
        (INSIDE_WORKER, WORKER_SOURCE.read_text()),
    ):
        fd = _data_fd(content.encode())
        owned.append(fd)
        args += ["--perms", "0444", "--ro-bind-data", str(fd), inside]
    tmp_bytes = str(settings.tmp_mb * 2**20)
    args += ["--proc", "/proc", "--dev", "/dev"]
    size = ["--size", tmp_bytes] if modern else []
    args += [*size, "--tmpfs", "/dev/shm", *size, "--tmpfs", "/tmp"]
    for host, inside in python_binds + site_binds:
        args += ["--ro-bind", str(host), inside]
    args += ["--bind", str(workspace), INSIDE_WORKSPACE, "--chdir", INSIDE_WORKSPACE, "--remount-ro", "/"]
    if compiled is None:
        syscall_filter = "seccomp: OFF (unsafe_no_seccomp): every system call reaches the kernel"
    else:
        fd = _data_fd(compiled.program)
        owned.append(fd)
        args += ["--seccomp", str(fd)]  # bwrap loads it last, just before it starts the worker
        syscall_filter = compiled.describe()
    env = _inside_environment([inside for _, inside in site_binds], library_path)
    for key, value in env.items():
        args += ["--setenv", key, value]
    command = [python_inside, "-s", "-B", INSIDE_WORKER, str(cmd_fd), str(reply_fd), marker,
               json.dumps(worker_limits(settings))]  # fmt: skip
    # The options travel through a descriptor, not the command line: the sandbox can read its init's
    # /proc/1/cmdline, which would otherwise show host paths (the workspace, the interpreter).
    args_fd = _data_fd(b"".join(arg.encode() + b"\0" for arg in args))
    owned.append(args_fd)
    return LaunchPlan(
        argv=[bwrap, "--args", str(args_fd), "--", *command],
        env={"PATH": "/usr/bin:/bin"},  # bwrap's own environment: no secret of the host reaches /proc
        pass_fds=[cmd_fd, reply_fd, *owned],
        sandboxed=True,
        owned_fds=owned,
        notes=notes,
        syscall_filter=syscall_filter,
    )


def plan_unsafe(
    workspace: Path, settings: SandboxSettings, cmd_fd: int, reply_fd: int, marker: str
) -> LaunchPlan:
    """The worker run directly on the host (sandbox.unsafe_no_sandbox): rlimits only, NO isolation."""
    env = _inside_environment([], None)
    env["HOME"] = str(workspace)
    return LaunchPlan(
        argv=[
            sys.executable,
            "-s",
            "-B",
            str(WORKER_SOURCE),
            str(cmd_fd),
            str(reply_fd),
            marker,
            json.dumps(worker_limits(settings)),
        ],
        env=env,
        pass_fds=[cmd_fd, reply_fd],
        sandboxed=False,
        cwd=workspace,
        notes=["UNSAFE: no sandbox; the code runs on this machine as this user"],
    )


def _inside_environment(site_dirs: list[str], library_path: str | None) -> dict[str, str]:
    env = {
        "HOME": "/tmp",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        # One thread per numeric library: thread pools would spend the process limit.
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    if site_dirs:
        env["PYTHONPATH"] = ":".join(site_dirs)
    if library_path:
        env["LD_LIBRARY_PATH"] = library_path
    return env


def _interpreter(settings: SandboxSettings) -> tuple[str, list[tuple[Path, str]], str | None]:
    """(executable inside, binds, LD_LIBRARY_PATH) for the sandbox's Python."""
    if settings.python is not None:
        exe = settings.python.expanduser().resolve()
        prefix = exe.parent.parent
    else:
        exe = Path(os.path.realpath(sys.executable))
        prefix = Path(sys.base_prefix).resolve()
    if not exe.is_file():
        raise SandboxUnavailableError(
            f"the sandbox interpreter {exe} does not exist",
            "set sandbox.python to a Python executable, e.g. /usr/bin/python3",
        )
    if _is_under(exe, Path("/usr")):
        return str(exe), [], None
    relative = exe.relative_to(prefix) if _is_under(exe, prefix) else Path("bin") / exe.name
    # Only the interpreter's own folder is shown (at /opt/heron/python), never the folder around it
    # (for pyenv: not the rest of the home). libpython may sit behind an absolute RUNPATH, so the
    # library path points at the bound copy.
    return f"{INSIDE_PYTHON}/{relative}", [(prefix, INSIDE_PYTHON)], f"{INSIDE_PYTHON}/lib"


def _site_packages(settings: SandboxSettings) -> list[tuple[Path, str]]:
    """The running environment's package folders, read-only (never the folder holding the venv)."""
    if not settings.share_site_packages:
        return []
    found: list[Path] = []
    for key in ("purelib", "platlib"):
        path = Path(sysconfig.get_paths()[key]).resolve()
        if path.is_dir() and path not in found:
            found.append(path)
    return [(path, f"{INSIDE_SITE}/{index}") for index, path in enumerate(found)]


def _is_under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _data_fd(content: bytes) -> int:
    """A descriptor bwrap copies a file from (memfd: no size limit, nothing on disk)."""
    fd = os.memfd_create("heron-sandbox-data", 0)  # not CLOEXEC: passed to bwrap via pass_fds
    os.write(fd, content)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
