"""A real two-node Ray cluster on this machine for the tests: ``ray start --head``, then a second
``ray start --address`` with its own resources; stopped (every Ray process of the machine) at the end."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.postgres_server import free_port

RAY = str(Path(sys.executable).parent / "ray")


@contextmanager
def ray_cluster(env: dict[str, str]) -> Iterator[str]:
    """Yields the head's address (host:port). Each node offers one CPU: one worker per node."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit 107 characters
    env = env | {"RAY_USAGE_STATS_ENABLED": "0"}
    small = ["--num-cpus=1", "--num-gpus=0", "--object-store-memory=150000000", "--disable-usage-stats"]
    try:
        subprocess.run(
            [
                RAY,
                "start",
                "--head",
                f"--port={port}",
                "--include-dashboard=false",
                f"--temp-dir={temp}",
                *small,
                '--resources={"heron_head": 1}',
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        subprocess.run(
            [RAY, "start", f"--address=127.0.0.1:{port}", *small, '--resources={"heron_second": 1}'],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, env=env, timeout=120, check=False)
        shutil.rmtree(temp, ignore_errors=True)


def node_env(base: dict[str, str], home: Path) -> dict[str, str]:
    """The environment the cluster's processes start in: no HERON_* of the caller, offline models."""
    env = {k: v for k, v in base.items() if not k.startswith("HERON_")}
    return env | {"HOME": str(home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
