"""A real PostgreSQL server for the tests, from the machine's own binaries (Debian's ``postgresql``),
in a temporary data directory on a free port. PostgreSQL refuses to run as root: under root the server
runs as the unprivileged ``nobody``."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg


def postgres_bin() -> Path:
    """The folder of ``initdb`` and ``postgres``: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL is not installed: `make postgres` installs Debian's package")
    return Path(candidates[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """``url(database)`` is a ``postgresql://`` URL; ``new_database()`` makes an empty one."""

    def __init__(self, port: int) -> None:
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://heron@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        name = f"heron_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = postgres_bin()
    root = Path(tempfile.mkdtemp(prefix="heron-pg-"))
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:
        as_user = {"user": "nobody", "group": "nogroup", "extra_groups": []}
        os.chown(root, 65534, 65534)
    data = root / "data"
    subprocess.run(
        [bindir / "initdb", "-D", data, "-U", "heron", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        **as_user,
    )
    port = free_port()
    server = subprocess.Popen(
        [bindir / "postgres", "-D", data, "-p", str(port), "-h", "127.0.0.1", "-k", root, "-F"],
        stdout=subprocess.DEVNULL,
        stderr=(root / "server.log").open("wb"),
        **as_user,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(PostgresServer(port).url(), connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start: {(root / 'server.log').read_text()}"
                    ) from None
                time.sleep(0.2)
        yield PostgresServer(port)
    finally:
        server.terminate()  # smart shutdown
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)
