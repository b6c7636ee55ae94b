"""The source stays mypy-clean (settings: setup.cfg [mypy]); the test command checks types."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = [
    "common",
    "goofish",
    "storage",
    "actors",
    "supervisor",
    "control",
    "notify",
    "service",
    "simulator",
    "web",
    "metrics",
    "cluster",
    "run.py",
]


def test_source_is_mypy_clean():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e '.[test]' brings it)")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", *SOURCE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
