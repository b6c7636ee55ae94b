"""The benchmark's re-creations of the original project, for the tests that check them.

``bench/`` is not a package (its scripts put ``bench/`` on ``sys.path`` and import
``harness``), so its modules are loaded here from their files, once per test run.

- ``naive_session``: ``bench/harness/naive_session.py``'s ``NaiveSession`` class.
- ``naive_swaps``: ``AccountActor`` builds the session of a ``swap_strategy="naive"`` swap
  with ``NaiveSession`` for the duration of the test.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from actors.account import AccountActor
from actors.session import Session

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench_module(relative: str) -> ModuleType:
    """The module at ``bench/<relative>``, imported by path (cached in ``sys.modules``)."""
    name = "bench_" + relative.removesuffix(".py").replace("/", "_")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / relative)
    assert spec is not None and spec.loader is not None, f"bench/{relative} not found"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def naive_session() -> type[Session]:
    cls: type[Session] = load_bench_module("harness/naive_session.py").NaiveSession
    return cls


@pytest.fixture
def naive_swaps(monkeypatch: pytest.MonkeyPatch, naive_session: type[Session]) -> None:
    monkeypatch.setattr(AccountActor, "naive_session_class", naive_session)
