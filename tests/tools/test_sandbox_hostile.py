"""Hostile code in the sandbox: every case checks that the guard held AND that the host is unaffected.

Each test runs under ``host_watch``: a host process started before the test must still be alive
after it, the host must still be able to start processes, and closing the sandbox must leave no
process of the session behind.
"""

from __future__ import annotations

import ast
import os
import pwd
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from heron.config import SandboxSettings
from heron.errors import ModelRetry
from heron.tools import ToolContext, read_file
from heron.tools.sandbox import Sandbox, worker_process
from heron.tools.sandbox.cgroups import sandbox_memory_limit
from heron.tools.sandbox.memory_guard import proportional_set_size
from heron.tools.sandbox.processes import pids_with_marker
from heron.tools.workspace_paths import workspace_usage

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def host_sentinel() -> Iterator[subprocess.Popen[bytes]]:
    """A process of the host that no sandboxed code may touch."""
    sentinel = subprocess.Popen(["sleep", "600"])
    yield sentinel
    assert sentinel.poll() is None, "a host process died while the hostile cell ran"
    sentinel.kill()
    sentinel.wait()


@pytest.fixture
def hostile(
    workspace: Path,
    limits: Callable[..., SandboxSettings],
    host_sentinel: subprocess.Popen[bytes],
    wait: Callable[..., bool],
) -> Iterator[Callable[..., Sandbox]]:
    """``hostile(**limits)`` -> a sandbox; on teardown the host must be unaffected."""
    boxes: list[Sandbox] = []

    def make(**overrides: object) -> Sandbox:
        boxes.append(Sandbox(workspace, limits(**overrides)))
        return boxes[-1]

    yield make
    for box in boxes:
        box.close()
        assert wait(lambda box=box: box.processes() == []), "a sandboxed process outlived its session"
    assert subprocess.run(["true"], check=False).returncode == 0, "the host cannot start processes"


def value_of(result: object) -> Any:
    """The final expression's value of a cell, parsed back from its repr."""
    assert getattr(result, "error", None) is None, getattr(result, "to_text", lambda: "")()
    return ast.literal_eval(result.value)  # type: ignore[attr-defined]


def sample_while(action: Callable[[], object], measure: Callable[[], float]) -> tuple[object, float]:
    """Run ``action`` while a thread records the peak of ``measure``."""
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], measure())
            time.sleep(0.02)

    thread = threading.Thread(target=sample)
    thread.start()
    try:
        result = action()
    finally:
        done.set()
        thread.join()
    return result, peak[0]


def memory_in_use(pids: list[int]) -> float:
    """Proportional set size summed over ``pids``: pages shared after fork are counted once."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def test_fork_bomb_is_capped_and_leaves_no_process(hostile: Callable[..., Sandbox]) -> None:
    box = hostile(wall_seconds=3.0)
    bomb = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result, peak = sample_while(lambda: box.run_cell(bomb), lambda: len(box.processes()))
    assert result.state_lost and "wall-clock" in (result.lost_reason or "")  # type: ignore[attr-defined]
    # bwrap + its init + the worker count too; the cgroup pids limit allows max_processes + 4.
    assert 3 < peak <= box.settings.max_processes + 4
    assert len(box.processes()) == 3  # only the fresh worker: the bomb's processes are gone
    assert box.run_cell("1 + 1").value == "2"


def test_memory_bomb_fails_inside_and_the_sandbox_stays_within_its_limit(
    hostile: Callable[..., Sandbox],
) -> None:
    box = hostile()
    result = box.run_cell("chunks = []\nwhile True:\n    chunks.append(b'x' * (32 * 2**20))")
    assert result.error is not None and "MemoryError" in result.error
    limit = box.settings.memory_mb * 2**20
    for pid in box.processes():
        status = Path(f"/proc/{pid}/status").read_text()
        peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmPeak:"))
        assert peak_kb * 1024 <= limit + 16 * 2**20
    assert box.run_cell("del chunks\n'freed'").value == "'freed'"


# Each child stays under the per-process limit; together they would pass it several times over.
SIX_BIG_CHILDREN = (
    "import os, time\n"
    "children = []\n"
    "for _ in range(6):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        block = b'x' * (300 * 2**20)\n"
    "        time.sleep(1.5)\n"
    "        os._exit(0)\n"
    "    children.append(pid)\n"
    "[os.waitpid(pid, 0)[1] for pid in children]"
)


def test_many_processes_together_stay_under_the_sandbox_memory_bound(hostile: Callable[..., Sandbox]) -> None:
    box = hostile(wall_seconds=8.0)
    result, peak = sample_while(
        lambda: box.run_cell(SIX_BIG_CHILDREN), lambda: memory_in_use(box.processes())
    )
    assert peak < 6 * 300 * 2**20  # the six blocks never all existed at once
    if "memory (cgroup" in box.describe():
        statuses = value_of(result)
        assert isinstance(statuses, list)
        assert statuses.count(9) >= 4  # the kernel killed (SIGKILL) the children that did not fit
        used = box.memory_peak()
        assert used is not None and used <= sandbox_memory_limit(box.settings.memory_mb, box.settings.tmp_mb)
    else:  # no memory cgroup here (a regular user): the host's memory watcher stopped the sandbox
        assert result.state_lost and "MiB of memory" in (result.lost_reason or "")


def test_without_a_memory_cgroup_the_host_watches_the_whole_sandboxs_memory(
    hostile: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a regular user gets on cgroup v1: heron may not create a cgroup, so no kernel bound.
    monkeypatch.setattr(worker_process.SandboxCgroup, "create", classmethod(lambda cls, *a, **k: None))
    box = hostile(wall_seconds=8.0)
    box.run_cell("state = 'before'")
    assert "cgroup limits: none" in box.describe() and "watched from the host" in box.describe()
    result, peak = sample_while(
        lambda: box.run_cell(SIX_BIG_CHILDREN), lambda: memory_in_use(box.processes())
    )
    assert peak < 6 * 300 * 2**20
    bound = sandbox_memory_limit(box.settings.memory_mb, box.settings.tmp_mb) // 2**20
    assert result.state_lost
    assert f"together used more than {bound} MiB of memory" in (result.lost_reason or "")
    assert "NameError" in (box.run_cell("state").error or "")  # a fresh worker took the next cell
    # ordinary cells under the bound are left alone, forked children included
    code = "import os\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)[1]"
    assert value_of(box.run_cell(code)) == 0


def test_proportional_set_size_counts_live_processes_only() -> None:
    assert proportional_set_size([os.getpid()]) > 10 * 2**20  # this interpreter, with pytest loaded
    assert proportional_set_size([2**22 + 12345]) == 0  # no such process


def test_busy_loop_hits_the_cpu_limit(hostile: Callable[..., Sandbox]) -> None:
    box = hostile(cpu_seconds=1, wall_seconds=20.0)
    box.run_cell("state = 'before'")
    result = box.run_cell("while True: pass")
    assert result.state_lost
    assert result.lost_reason == "the cell used more than its 1 s of CPU time"
    assert "NameError" in (box.run_cell("state").error or "")


def test_sleeping_past_the_wall_clock_limit_is_stopped(hostile: Callable[..., Sandbox]) -> None:
    box = hostile(wall_seconds=1.5)
    started = time.monotonic()
    result = box.run_cell("import time\ntime.sleep(120)")
    assert result.state_lost and result.lost_reason == "the cell ran past the wall-clock limit of 1.5 s"
    assert time.monotonic() - started < 60  # the host did not wait for the sleep


def test_host_files_are_invisible(hostile: Callable[..., Sandbox], tmp_path: Path) -> None:
    home_secret = Path.home() / "secret-notes.txt"
    home_secret.write_text("home-secret-value")
    real_home = pwd.getpwuid(os.getuid()).pw_dir
    files = ["/etc/shadow", str(home_secret), f"{real_home}/.bashrc", str(REPO_ROOT / "pyproject.toml")]
    folders = [real_home, str(REPO_ROOT), str(tmp_path), "/root", "/home"]
    code = (
        "import os\n"
        "seen = {}\n"
        f"for path in {files!r}:\n"
        "    try:\n"
        "        seen[path] = open(path).read()[:200]\n"
        "    except OSError as exc:\n"
        "        seen[path] = type(exc).__name__\n"
        f"for path in {folders!r}:\n"
        "    seen[path] = os.path.exists(path) and os.listdir(path) != []\n"
        "try:\n"
        "    import heron\n"
        "    seen['import heron'] = heron.__file__\n"
        "except ImportError as exc:\n"
        "    seen['import heron'] = type(exc).__name__\n"
        "seen"
    )
    seen = value_of(hostile().run_cell(code))
    assert isinstance(seen, dict)
    assert {seen[path] for path in files} <= {"FileNotFoundError", "PermissionError"}
    assert not any(seen[path] for path in folders)
    assert seen["import heron"] == "ModuleNotFoundError"
    assert home_secret.read_text() == "home-secret-value"


def test_code_runs_unprivileged_in_its_own_namespaces(hostile: Callable[..., Sandbox]) -> None:
    code = (
        "import os, socket\n"
        "status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines())\n"
        "cmdlines = [open(f'/proc/{p}/cmdline', 'rb').read() for p in os.listdir('/proc') if p.isdigit()]\n"
        "(os.getuid(), os.getgid(), status['CapEff'].strip(), status['NoNewPrivs'].strip(),\n"
        " socket.gethostname(), [name for _, name in socket.if_nameindex()],\n"
        " any(b'pytest' in c for c in cmdlines), len(cmdlines))"
    )
    uid, gid, caps, no_new_privs, hostname, interfaces, sees_host, process_count = value_of(
        hostile().run_cell(code)
    )
    assert (uid, gid) == (1000, 1000)
    assert caps == "0000000000000000" and no_new_privs == "1"
    assert hostname == "heron-sandbox" and interfaces == ["lo"]
    assert not sees_host and process_count <= 3


def test_no_connection_leaves_the_sandbox(hostile: Callable[..., Sandbox]) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "outcome = {}\n"
            f"for host, port in [('1.1.1.1', 80), ('127.0.0.1', {port}), ('10.0.2.2', 80)]:\n"
            "    try:\n"
            "        socket.create_connection((host, port), timeout=3).close()\n"
            "        outcome[host] = 'connected'\n"
            "    except OSError as exc:\n"
            "        outcome[host] = type(exc).__name__\n"
            "try:\n"
            "    socket.getaddrinfo('pypi.org', 443)\n"
            "    outcome['dns'] = 'resolved'\n"
            "except OSError as exc:\n"
            "    outcome['dns'] = type(exc).__name__\n"
            "outcome"
        )
        outcome = value_of(hostile().run_cell(code))
        assert isinstance(outcome, dict)
        assert outcome["127.0.0.1"] == "ConnectionRefusedError"  # the sandbox's own, empty loopback
        assert outcome["1.1.1.1"] == "OSError" and outcome["10.0.2.2"] == "OSError"  # network unreachable
        assert outcome["dns"] == "gaierror"
        with pytest.raises(BlockingIOError):
            listener.accept()  # the host's listener never received a connection


def test_file_size_and_workspace_caps_hold(hostile: Callable[..., Sandbox], workspace: Path) -> None:
    box = hostile()
    big = box.run_cell("open('big.bin', 'wb').write(b'0' * (2 * 2**20))")
    assert big.error is not None and "File too large" in big.error
    assert (workspace / "big.bin").stat().st_size <= box.settings.max_file_mb * 2**20
    tmp = box.run_cell("for i in range(12):\n    open(f'/tmp/fill{i}', 'wb').write(b'0' * (900 * 2**10))")
    assert tmp.error is not None and "No space left on device" in tmp.error
    (workspace / "big.bin").unlink()
    (workspace / "mine.txt").write_text("the user's file")
    box.run_cell("x = 1")
    fill = box.run_cell(
        "for i in range(100_000):\n    open(f'part{i}.bin', 'wb').write(b'0' * (512 * 2**10))"
    )
    assert fill.state_lost and "workspace passed its cap of 4 MiB" in (fill.lost_reason or "")
    assert fill.removed_files and all(name.startswith("part") for name in fill.removed_files)
    used, _ = workspace_usage(workspace)
    assert used <= box.settings.workspace_max_mb * 2**20
    assert (workspace / "mine.txt").read_text() == "the user's file"


def test_filling_the_workspace_between_cells_is_stopped_and_reported(
    hostile: Callable[..., Sandbox], workspace: Path, wait: Callable[..., bool]
) -> None:
    box = hostile()
    code = (
        "import threading, time\n"
        "def fill():\n"
        "    time.sleep(0.3)\n"
        "    for i in range(100_000):\n"
        "        open(f'late{i}.bin', 'wb').write(b'0' * (512 * 2**10))\n"
        "threading.Thread(target=fill).start()\n"
        "'started'"
    )
    assert box.run_cell(code).value == "'started'"
    assert wait(lambda: not box.running)  # the watcher stopped it while no cell ran
    result = box.run_cell("1 + 1")
    assert result.value == "2"
    assert result.state_lost and (result.lost_reason or "").startswith("between cells, the workspace passed")
    assert result.removed_files and all(name.startswith("late") for name in result.removed_files)
    assert workspace_usage(workspace)[0] <= box.settings.workspace_max_mb * 2**20


def test_a_workspace_already_over_its_cap_may_shrink_but_not_grow(
    hostile: Callable[..., Sandbox], workspace: Path
) -> None:
    (workspace / "huge.bin").write_bytes(b"0" * (5 * 2**20))  # put there from outside, past the 4 MiB
    box = hostile()
    grow = box.run_cell("import time\nopen('more.bin', 'wb').write(b'0' * 2**19)\ntime.sleep(2)")
    assert grow.state_lost and "workspace passed its cap" in (grow.lost_reason or "")
    assert grow.removed_files == ["more.bin"] and (workspace / "huge.bin").exists()
    assert box.run_cell("import os\nos.remove('huge.bin')\nos.listdir()").value == "[]"


def test_too_many_files_in_the_workspace_are_stopped(
    hostile: Callable[..., Sandbox], workspace: Path
) -> None:
    box = hostile(workspace_max_files=200)
    result = box.run_cell("for i in range(1_000_000):\n    open(f'empty{i}', 'w').close()")
    assert result.state_lost and "200 files and folders" in (result.lost_reason or "")
    assert len(list(workspace.iterdir())) <= 200


def test_privileged_calls_through_ctypes_fail(
    hostile: Callable[..., Sandbox], host_sentinel: subprocess.Popen[bytes]
) -> None:
    box = hostile()
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def call(name, *args):\n"
        "    ctypes.set_errno(0)\n"
        "    return getattr(libc, name)(*args), os.strerror(ctypes.get_errno())\n"
        "{'setuid': call('setuid', 0), 'setgid': call('setgid', 0),\n"
        " 'mount': call('mount', b'none', b'/usr', b'tmpfs', 0, None),\n"
        " 'umount': call('umount2', b'/workspace', 2),\n"
        f" 'kill': call('kill', {host_sentinel.pid}, 9),\n"
        " 'unshare': call('unshare', 0x10000000), 'uid': os.getuid()}"
    )
    calls = value_of(box.run_cell(code))
    assert isinstance(calls, dict)
    for name in ("setuid", "setgid", "mount", "umount", "kill", "unshare"):
        assert calls[name][0] == -1, (name, calls[name])
    assert calls["kill"][1] == "No such process"  # host processes do not exist in its pid namespace
    assert calls["uid"] == 1000
    # kill(-1, SIGKILL) reaches every process it may signal: only its own children.
    box.run_cell("import subprocess\nchild = subprocess.Popen(['sleep', '100'])")
    mass_kill = box.run_cell("import ctypes\nctypes.CDLL(None).kill(-1, 9), child.wait()")
    assert mass_kill.value == "(0, -9)"
    assert host_sentinel.poll() is None


def test_killing_the_parent_does_not_reach_the_host(hostile: Callable[..., Sandbox]) -> None:
    box = hostile()
    box.run_cell("state = 'kept'")
    result = box.run_cell("import os\nppid = os.getppid()\nos.kill(ppid, 9)\nppid")
    assert result.value == "1"  # its parent is the sandbox's own init, which ignores the signal
    assert box.run_cell("state").value == "'kept'"
    assert os.getppid() > 0 and box.running


def test_double_forked_daemon_dies_with_the_session(
    hostile: Callable[..., Sandbox], wait: Callable[..., bool]
) -> None:
    box = hostile()
    marker = f"heron-daemon-{uuid.uuid4().hex}"
    daemon = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        argv = [sys.executable, '-c', 'import time; time.sleep(600)', '{marker}']\n"
        "        os.execv(sys.executable, argv)\n"
        "    os._exit(0)\n"
        "os.wait()[1]"
    )
    assert box.run_cell(daemon).value == "0"
    assert wait(lambda: len(pids_with_marker(marker)) == 1)  # it runs, detached from the worker
    box.restart()
    assert wait(lambda: pids_with_marker(marker) == [])  # a restart ends it
    assert box.run_cell(daemon).value == "0"
    assert wait(lambda: len(pids_with_marker(marker)) == 1)
    box.close()
    assert wait(lambda: pids_with_marker(marker) == [] and box.processes() == [])


def test_system_folders_are_read_only(hostile: Callable[..., Sandbox]) -> None:
    targets = ["/usr/heron-was-here", "/etc/passwd", "/opt/heron/worker.py", "/heron-root-file", "/bin/heron"]
    code = (
        "outcome = {}\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        outcome[path] = 'written'\n"
        "    except OSError as exc:\n"
        "        outcome[path] = exc.strerror\n"
        "outcome"
    )
    outcome = value_of(hostile().run_cell(code))
    assert isinstance(outcome, dict)
    assert set(outcome.values()) <= {"Read-only file system", "Permission denied"}
    assert not Path("/usr/heron-was-here").exists() and not Path("/bin/heron").exists()


def test_environment_secrets_of_the_host_do_not_leak(
    hostile: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HERON_TEST_API_KEY", "sk-very-secret-123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-very-secret-456")
    code = (
        "import os, glob\n"
        "leaks = [k for k, v in os.environ.items() if 'very-secret' in v]\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        if b'very-secret' in open(path, 'rb').read():\n"
        "            leaks.append(path)\n"
        "    except OSError:\n"
        "        pass\n"
        "leaks, sorted(os.environ)"
    )
    result = hostile().run_cell(code)
    leaks, names = value_of(result)
    assert leaks == []
    assert "very-secret" not in result.to_text()
    assert "HERON_TEST_API_KEY" not in names and "HOME" in names


def test_symlinks_out_of_the_workspace_lead_nowhere(
    hostile: Callable[..., Sandbox], workspace: Path, tmp_path: Path, ctx: ToolContext
) -> None:
    secret = tmp_path / "outside-secret.txt"
    secret.write_text("outside-secret-value")
    os.symlink(secret, workspace / "planted-link")  # a link someone left in the workspace
    code = (
        "import os\n"
        f"os.symlink({str(secret)!r}, 'made-inside')\n"
        "os.symlink('/etc/hostname', 'etc-link')\n"
        "outcome = {}\n"
        "for name in ['planted-link', 'made-inside']:\n"
        "    try:\n"
        "        outcome[name] = open(name).read()\n"
        "    except OSError as exc:\n"
        "        outcome[name] = type(exc).__name__\n"
        "    try:\n"
        "        open(name, 'w').write('overwritten')\n"
        "    except OSError as exc:\n"
        "        outcome[name + ' write'] = type(exc).__name__\n"
        "outcome"
    )
    result = hostile().run_cell(code)
    outcome = value_of(result)
    names = ["planted-link", "made-inside", "planted-link write", "made-inside write"]
    assert outcome == dict.fromkeys(names, "FileNotFoundError")
    assert result.artifacts == []  # links are not reported as files, never followed
    assert secret.read_text() == "outside-secret-value"
    for name in ("planted-link", "made-inside"):
        with pytest.raises(ModelRetry, match="symbolic link"):
            read_file.invoke({"path": name}, ctx)
