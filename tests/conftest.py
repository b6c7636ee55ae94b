"""Fixtures shared by every test module.

Time: tests never sleep to wait for an effect; they wait on events or poll with
``wait_for`` (a deadline helper). Both, and ``MS`` (the one time unit, which
``XIANYU_TEST_TIME_SCALE`` stretches), live in ``tests/plugins/timing.py``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pykka
import pytest

from tests.plugins.timing import MS, wait_for

pytest_plugins = [
    "tests.plugins.simulator",
    "tests.plugins.storage",
    "tests.plugins.faults",
    "tests.plugins.serve",
    "tests.plugins.logs",
    "tests.plugins.accounts",
    "tests.plugins.delivery",
    "tests.plugins.browser",
    "tests.plugins.webhook",
    "tests.plugins.cluster",
    "tests.plugins.pgserver",
    "tests.plugins.cluster_fakes",
]

# Kept importable from here only so that tests written on other branches still load at merge;
# tests import them from tests.plugins.timing (tests/test_architecture.py checks that).
__all__ = ["MS", "wait_for"]


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
