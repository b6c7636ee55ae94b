"""Fixtures shared by every test module.

Time: tests never sleep to wait for an effect; they wait on events or poll with
``wait_for`` (a deadline helper). ``MS`` scales the rare real wait.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pykka
import pytest

T = TypeVar("T")

pytest_plugins = [
    "tests.plugins.simulator",
    "tests.plugins.storage",
    "tests.plugins.faults",
    "tests.plugins.serve",
]

MS = 0.001


def wait_for(
    predicate: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.01, what: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A fresh directory short enough for a UNIX socket path inside it (pytest's ``tmp_path``
    can exceed the 107-byte limit)."""
    path = Path(tempfile.mkdtemp(prefix="xst-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    yield
    pykka.ActorRegistry.stop_all(timeout=5)


@pytest.fixture(autouse=True)
def _no_secret_leaks(request: pytest.FixtureRequest) -> None:
    """Every test that talks to a simulator runs under the secrets guard: no cookie value,
    signing token or IM token it issued may appear in a log line (issue 8, "across the
    whole suite"). Tests that assert on log output themselves opt out with the marker."""
    uses_simulator = {"sim", "start_sim"} & set(request.fixturenames)
    if uses_simulator and request.node.get_closest_marker("no_secrets_guard") is None:
        request.getfixturevalue("secrets_guard")
