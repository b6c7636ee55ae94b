"""``python run.py demo`` tells the whole story and exits 0, well under 30 s."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_the_tour_and_exits_zero():
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "run.py", "demo"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "outcome=applied" in out
    assert "outcome=rolled_back" in out
    assert "outcome=killed_and_restarted" in out
    assert "the previous cookie kept serving" in out
    # the status table lists the three accounts, all online at the end
    status = out.split("== status", 1)[1].split("== events", 1)[0]
    assert status.count(" online ") == 3
    assert elapsed < 30
    # cookies are secrets: none of their values may show up in the output
    for secret_name in ("cookie2=", "_m_h5_tk=", "sgcookie="):
        assert secret_name not in out + done.stderr
