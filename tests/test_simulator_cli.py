"""``python run.py simulator``: one JSON line on stdout, serves, exits 0 on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.admin import AdminClient

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_py_simulator_prints_urls_and_stops_cleanly(signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        urls = json.loads(process.stdout.readline())
        assert set(urls) == {"ws_url", "api_url", "admin_url", "passport_url"}
        assert urls["admin_url"].endswith("/admin/")
        assert urls["passport_url"].endswith("/passport/")
        with AdminClient(urls["admin_url"]) as admin:
            created = admin.create_user(nick="cli")
            assert created["user_id"] in admin.state()["users"]
        process.send_signal(signum)
        stdout, _ = process.communicate(timeout=10)
        assert process.returncode == 0
        assert stdout == ""  # exactly one line in total
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
