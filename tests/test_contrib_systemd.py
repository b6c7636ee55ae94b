"""``contrib/xianyu-supervisor.service`` (issue 12 §5): the settings it promises, and
``systemd-analyze verify`` finds nothing to say about it (when the tool exists)."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "contrib" / "xianyu-supervisor.service"
INSTALL_DIR = "/opt/xianyu-supervisor"
DATA_DIR = "/var/lib/xianyu-supervisor"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_the_unit_runs_serve_gracefully_restarts_on_failure_and_is_hardened():
    service = _unit()["Service"]
    assert service["Type"] == "simple"
    assert service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "on-failure"
    assert service["ExecStart"].endswith("run.py serve")
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    # the one writable place is the data dir the service is pointed at
    assert service["ReadWritePaths"] == DATA_DIR
    assert f"XIANYU_DATA_DIR={DATA_DIR}" in service["Environment"] or DATA_DIR in UNIT.read_text()
    assert service["UMask"] == "0077"


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path):
    # verify checks that ExecStart's program exists: point the paths at this checkout
    text = UNIT.read_text(encoding="utf-8")
    text = text.replace(f"{INSTALL_DIR}/.venv/bin/python", sys.executable)
    text = text.replace(INSTALL_DIR, str(REPO))
    unit = tmp_path / UNIT.name
    unit.write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # an unknown or misspelt key is only a warning on stderr: any output counts as a failure
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
