"""Who this node is: its id (unique among live nodes), host, pid, data dir and version."""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


def default_node_id(data_dir: Path) -> str:
    """``<host>-<6 hex of the data dir>``: stable across restarts of one installation, and
    distinct for two installations on one host."""
    where = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:6]
    return f"{socket.gethostname()}-{where}"


def package_version() -> str:
    try:
        return metadata.version("xianyu-supervisor")
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        return "unknown"


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    host: str
    pid: int
    data_dir: str
    version: str

    @classmethod
    def of_this_process(cls, data_dir: Path, node_id: str | None = None) -> NodeIdentity:
        return cls(
            node_id=node_id or default_node_id(data_dir),
            host=socket.gethostname(),
            pid=os.getpid(),
            data_dir=str(data_dir.resolve()),
            version=package_version(),
        )

    def is_dead_incarnation(self, host: str | None, pid: int | None) -> bool:
        """Is a node row of ``host``/``pid`` a previous process of ours that is gone?

        Only decidable on this host; a row of another host with our id is a live conflict
        until its heartbeat ages out."""
        if host != self.host or pid is None:
            return False
        if pid == self.pid:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # a live process of another user
            return False
        return False
