"""The sandbox's system-call filter: each refused call answers EPERM inside, ordinary work still runs.

The calls are made with ctypes ``syscall()`` by number, so no C library wrapper can refuse first; the
numbers are this machine's, resolved on the host by libseccomp.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyseccomp
import pytest

from heron.config import SandboxSettings, load_settings
from heron.errors import SandboxUnavailableError
from heron.tools.sandbox import Sandbox, UnsafeSandboxWarning, self_check, syscall_filter
from heron.tools.sandbox.userns import userns_blocker

KEY_SPEC_SESSION_KEYRING = -3
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17
ADDR_NO_RANDOMIZE = 0x0040000
# Each call with arguments that would do something (or fail for another reason than EPERM) if it ran.
PROBES: dict[str, tuple[str, tuple[int | bytes | None, ...]]] = {
    "keyctl": ("keyctl", (0, KEY_SPEC_SESSION_KEYRING, 0)),  # KEYCTL_GET_KEYRING_ID
    "add_key": ("add_key", (b"user", b"heron", b"secret", 6, KEY_SPEC_SESSION_KEYRING)),
    "request_key": ("request_key", (b"user", b"heron", None, KEY_SPEC_SESSION_KEYRING)),
    "perf_event_open": ("perf_event_open", (None, 0, -1, -1, 0)),
    "bpf": ("bpf", (0, None, 0)),
    "userfaultfd": ("userfaultfd", (0,)),
    "unshare of a new user namespace": ("unshare", (CLONE_NEWUSER,)),
    "clone into a new user namespace": ("clone", (CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)),
    "mount": ("mount", (b"none", b"/tmp", b"tmpfs", 0, None)),
    "umount2": ("umount2", (b"/workspace", 2)),
    "pivot_root": ("pivot_root", (b"/tmp", b"/tmp")),
    "kexec_load": ("kexec_load", (0, 0, None, 0)),
    "kexec_file_load": ("kexec_file_load", (-1, -1, 0, None, 0)),
    "init_module": ("init_module", (None, 0, b"")),
    "finit_module": ("finit_module", (-1, b"", 0)),
    "delete_module": ("delete_module", (b"heron", 0)),
    "open_by_handle_at": ("open_by_handle_at", (-1, None, 0)),
    "name_to_handle_at": ("name_to_handle_at", (-100, b"/tmp", None, None, 0)),
    "swapon": ("swapon", (b"/tmp/swap", 0)),
    "reboot": ("reboot", (0, 0, 0, None)),
    "settimeofday": ("settimeofday", (None, None)),
    "clock_settime": ("clock_settime", (0, None)),
    "acct": ("acct", (None,)),
    "setns": ("setns", (-1, 0)),
    "io_uring_setup": ("io_uring_setup", (1, None)),
    "personality with ADDR_NO_RANDOMIZE": ("personality", (ADDR_NO_RANDOMIZE,)),
}
# Calls only some architectures have (iopl on x86); probed where this machine has them.
X86_ONLY = {"iopl": ("iopl", (3,)), "ioperm": ("ioperm", (0, 1024, 1))}

CELL = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def as_c(value):
    return ctypes.c_char_p(value) if isinstance(value, bytes) else ctypes.c_long(value or 0)
outcome = {}
for label, (number, args) in PROBES.items():
    ctypes.set_errno(0)
    answer = libc.syscall(ctypes.c_long(number), *[as_c(arg) for arg in args])
    if answer == 0 and label.startswith('clone'):
        os._exit(0)  # a child made by a clone that should have failed
    outcome[label] = errno.errorcode.get(ctypes.get_errno(), 'answered') if answer == -1 else 'answered'
outcome
"""


def syscall_number(name: str) -> int:
    return int(pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name))


def probe_cell(probes: dict[str, tuple[str, tuple[Any, ...]]]) -> str:
    numbered = {label: (syscall_number(name), args) for label, (name, args) in probes.items()}
    return f"PROBES = {numbered!r}\n{CELL}"


def outcome_of(result: Any) -> dict[str, str]:
    assert result.error is None, result.to_text()
    outcome = ast.literal_eval(result.value)
    assert isinstance(outcome, dict)
    return outcome


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Every probe's outcome in one sandbox (one start for the whole module)."""
    probes = dict(PROBES)
    probes.update({label: probe for label, probe in X86_ONLY.items() if syscall_number(probe[0]) >= 0})
    workspace = tmp_path_factory.mktemp("seccomp-workspace")
    with Sandbox(workspace, SandboxSettings(memory_mb=384, wall_seconds=20.0)) as box:
        yield outcome_of(box.run_cell(probe_cell(probes)))


@pytest.mark.parametrize("label", sorted(PROBES))
def test_each_refused_call_fails_with_eperm(refused: dict[str, str], label: str) -> None:
    assert refused[label] == "EPERM"


def test_calls_only_some_architectures_have_are_refused_where_they_exist(refused: dict[str, str]) -> None:
    present = [label for label, (name, _) in X86_ONLY.items() if syscall_number(name) >= 0]
    assert all(refused[label] == "EPERM" for label in present)
    assert len(present) == (2 if syscall_number("iopl") >= 0 else 0)


def test_ptrace_of_a_sibling_process_is_refused(box: Sandbox) -> None:
    code = (
        "import subprocess, sys\n"
        "sibling = subprocess.Popen(['sleep', '30'])\n"
        "tracer = (\n"
        "    'import ctypes, errno, sys\\n'\n"
        "    'libc = ctypes.CDLL(None, use_errno=True)\\n'\n"
        f"    'answer = libc.syscall({syscall_number('ptrace')}, 16, int(sys.argv[1]), 0, 0)\\n'\n"
        "    'print(answer, errno.errorcode.get(ctypes.get_errno()))'\n"
        ")\n"
        "argv = [sys.executable, '-c', tracer, str(sibling.pid)]\n"
        "out = subprocess.run(argv, capture_output=True, text=True)\n"
        "sibling.kill()\n"
        "out.stdout.strip()"
    )  # 16: PTRACE_ATTACH
    assert box.run_cell(code).value == "'-1 EPERM'"


def test_x32_numbers_do_not_slip_past_the_filter(box: Sandbox) -> None:
    if syscall_number("keyctl") < 0 or pyseccomp.system_arch() != pyseccomp.Arch.X86_64:
        # aarch64 has no second calling convention under the same architecture value
        assert pyseccomp.system_arch() == pyseccomp.Arch.AARCH64
        return
    x32_keyctl = 0x40000000 | 250  # the x32 convention: the same call with the x32 bit set
    code = (
        "import ctypes, errno\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"libc.syscall({x32_keyctl}, 0, -3, 0), errno.errorcode.get(ctypes.get_errno())"
    )
    assert box.run_cell(code).value == "(-1, 'EPERM')"


def test_harmless_neighbours_still_work(box: Sandbox) -> None:
    """clone3 answers ENOSYS (C libraries then use clone), personality may still be read or reset."""
    code = (
        "import ctypes, errno\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def call(number, *args):\n"
        "    ctypes.set_errno(0)\n"
        "    return libc.syscall(number, *args), errno.errorcode.get(ctypes.get_errno())\n"
        f"{{'clone3': call({syscall_number('clone3')}, 0, 0),\n"
        f" 'personality query': call({syscall_number('personality')}, 0xffffffff),\n"
        f" 'personality linux': call({syscall_number('personality')}, 0)}}"
    )
    outcome = ast.literal_eval(box.run_cell(code).value or "{}")
    assert outcome["clone3"] == (-1, "ENOSYS")  # so C libraries fall back to clone, which is checked
    assert outcome["personality query"][0] >= 0 and outcome["personality linux"][0] >= 0


ORDINARY_WORK = """
import subprocess, threading, concurrent.futures, os
import numpy as np
import matplotlib
import matplotlib.pyplot as plt
a = np.arange(90_000, dtype=float).reshape(300, 300)
trace = float(np.trace(a @ a.T))
fig, ax = plt.subplots()
ax.plot(np.sin(np.linspace(0, 6.28, 100)))
fig.savefig('plot.png')
shell = ['sh', '-c', 'echo child; ls /workspace']
child = subprocess.run(shell, capture_output=True, text=True).stdout.split()
totals = []
threads = [threading.Thread(target=lambda n=n: totals.append(sum(range(n)))) for n in range(1, 9)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    squares = list(pool.map(lambda v: v * v, range(6)))
pid = os.fork()
if pid == 0:
    os._exit(7)
forked = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
open('plot.png', 'rb').read(8), trace > 0, child, sorted(totals), squares, forked
"""


def test_ordinary_python_work_runs_under_the_filter(box: Sandbox, workspace: Path) -> None:
    result = box.run_cell(ORDINARY_WORK, timeout=60)
    assert result.error is None, result.to_text()
    header, positive, child, totals, squares, forked = ast.literal_eval(result.value or "")
    assert header == b"\x89PNG\r\n\x1a\n" and (workspace / "plot.png").stat().st_size > 1000
    assert positive and child == ["child", "plot.png"]
    assert totals == sorted(sum(range(n)) for n in range(1, 9)) and squares == [0, 1, 4, 9, 16, 25]
    assert forked == 7
    assert "seccomp: on" in box.describe()


def test_unsafe_no_seccomp_lifts_the_filter_loudly(
    workspace: Path, limits: Callable[..., SandboxSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERON_SANDBOX__UNSAFE_NO_SECCOMP", "true")
    settings = load_settings()
    assert settings.sandbox.unsafe_no_seccomp
    with Sandbox(workspace, limits(unsafe_no_seccomp=True)) as sandbox:
        with pytest.warns(UnsafeSandboxWarning, match="unsafe_no_seccomp"):
            outcome = outcome_of(sandbox.run_cell(probe_cell({"keyctl": PROBES["keyctl"]})))
        assert outcome["keyctl"] == "answered"  # the control: without the filter the keyring answers
        assert "seccomp: OFF" in sandbox.describe() and "isolation: bubblewrap" in sandbox.describe()
    with pytest.warns(UnsafeSandboxWarning):
        check = self_check(settings)
    assert check.status == "warn" and "UNSAFE" in check.detail
    assert "HERON_SANDBOX__UNSAFE_NO_SECCOMP" in check.fix


def test_doctor_reports_the_filter(settings: Any) -> None:
    check = self_check(settings)
    count = len(syscall_filter.compiled_filter().refused)
    assert check.status in ("ok", "warn")
    assert f"seccomp: on, {count} system calls refused" in check.detail
    assert count >= 50 and "keyctl" in syscall_filter.compiled_filter().refused


def test_without_libseccomp_the_sandbox_refuses_to_start_and_says_what_to_install(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise SandboxUnavailableError("libseccomp cannot be loaded", syscall_filter.INSTALL_HINT)

    monkeypatch.setattr("heron.tools.sandbox.launch.compiled_filter", missing)
    with Sandbox(workspace, SandboxSettings()) as sandbox, pytest.raises(SandboxUnavailableError) as info:
        sandbox.run_cell("1")
    assert info.value.hint is not None and "apt-get install libseccomp2" in info.value.hint
    assert "unsafe_no_seccomp" in info.value.hint


@pytest.mark.parametrize(
    ("files", "euid", "expected"),
    [
        ({}, 1000, None),
        ({"user/max_user_namespaces": "0"}, 0, "sudo sysctl -w user.max_user_namespaces="),
        (
            {"kernel/unprivileged_userns_clone": "0"},
            1000,
            "sudo sysctl -w kernel.unprivileged_userns_clone=1",
        ),
        ({"kernel/unprivileged_userns_clone": "0"}, 0, None),  # root is not held back by it
        (
            {"kernel/apparmor_restrict_unprivileged_userns": "1"},
            1000,
            "apparmor_restrict_unprivileged_userns=0",
        ),
    ],
)
def test_the_setting_that_blocks_user_namespaces_is_named_with_its_fix(
    tmp_path: Path, files: dict[str, str], euid: int, expected: str | None
) -> None:
    for name, value in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(value + "\n")
    found = userns_blocker(tmp_path, euid=euid)
    assert found is None if expected is None else (found is not None and expected in found)


def test_the_filter_names_only_calls_libseccomp_knows() -> None:
    refused = syscall_filter.compiled_filter().refused
    assert len(refused) == len(set(refused))
    assert all(syscall_number(name) >= 0 for name in refused)
