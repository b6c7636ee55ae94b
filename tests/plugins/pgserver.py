"""A PostgreSQL server of the test's own, so that a test may stop and restart it (issue 14:
"PostgreSQL restarted mid-run").

``private_postgres`` fixture: a ``PrivatePostgres`` (``url``, ``stop()``, ``start()``,
``restart()``) in a temporary directory on a free loopback port, removed afterwards. The
server binaries come from ``PATH`` or ``/usr/lib/postgresql/<v>/bin`` (``.ci/run`` installs
them); without them the test is skipped. PostgreSQL refuses to run as root, so as root the
server runs as ``nobody`` (like ``.ci/run``'s).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self._bin = bin_dir
        self._root = root
        self._data = root / "data"
        self.port = _free_port()
        self.url = f"postgresql://xianyu@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [str(self._bin / argv[0]), *argv[1:]]
        if os.geteuid() == 0:  # the server will not run as root
            command = ["su", "nobody", "-s", "/bin/sh", "-c", " ".join(command)]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self._root, user="nobody")
        self._run("initdb", "-D", str(self._data), "-U", "xianyu", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"'-h 127.0.0.1 -p {self.port} -k {self._root}'"
        log = self._root / "log"
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", str(log), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb); .ci/run installs them")
    root = Path(tempfile.mkdtemp(prefix="xpg-", dir="/tmp"))
    server = PrivatePostgres(bin_dir, root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
