"""The data on disk is private (issue 12 §1.1), and a bad place for it is one sentence (§1.4)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from actors.testing import TINY_TIMINGS
from common.errors import StorageError
from common.settings import Settings
from service.app import Service
from storage.files import make_private_dir, too_open

REPO = Path(__file__).resolve().parents[1]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_directories_are_0700_and_the_database_files_0600(sim, short_dir: Path):
    data_dir = short_dir / "new" / "data"
    settings = Settings(
        data_dir=data_dir, ws_url=sim.ws_url, api_url=sim.api_url, timings=TINY_TIMINGS
    )
    old_umask = os.umask(0o022)  # a permissive umask: the modes must not depend on it
    try:
        with Service(settings) as service:
            service.store.add_account("a1", "unb=1; cookie2=x", "1")  # a write: the WAL exists
            modes = {p.name: _mode(p) for p in data_dir.iterdir() if p.name.startswith("xianyu.db")}
            assert {"xianyu.db", "xianyu.db-wal", "xianyu.db-shm"} <= set(modes)
            assert set(modes.values()) == {0o600}
            assert _mode(data_dir) == 0o700
            assert _mode(short_dir / "new") == 0o700
    finally:
        os.umask(old_umask)


def test_an_existing_database_readable_by_others_is_warned_about(sim, short_dir: Path):
    data_dir = short_dir / "data"
    data_dir.mkdir(mode=0o700)
    (data_dir / "xianyu.db").touch(mode=0o644)
    os.chmod(data_dir / "xianyu.db", 0o644)
    settings = Settings(
        data_dir=data_dir, ws_url=sim.ws_url, api_url=sim.api_url, timings=TINY_TIMINGS
    )
    with capture_logs() as logs, Service(settings):
        pass
    warned = [e for e in logs if e["event"] == "data_file_too_open"]
    # SQLite gives the WAL files the database file's mode: all three are named
    assert [(e["path"], e["mode"], e["log_level"]) for e in warned] == [
        (str(data_dir / name), "0644", "warning")
        for name in ("xianyu.db", "xianyu.db-wal", "xianyu.db-shm")
    ]
    assert "chmod 600" in warned[0]["hint"]


def test_too_open_lists_nothing_for_private_files(short_dir: Path):
    db = short_dir / "x.db"
    db.touch(mode=0o600)
    os.chmod(short_dir, 0o700)
    assert too_open(short_dir, f"sqlite:///{db}") == []


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("afile", "is a file"),
        ("afile/sub", "is a file"),
        ("/proc/xianyu-nope", "cannot be created"),
    ],
)
def test_a_data_dir_that_cannot_be_used_is_one_sentence(short_dir: Path, where: str, why: str):
    (short_dir / "afile").write_text("")
    path = Path(where) if where.startswith("/") else short_dir / where
    with pytest.raises(StorageError, match=why) as caught:
        make_private_dir(path)
    assert "--data-dir" in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        ["--data-dir", "{d}/afile"],
        ["--data-dir", "/proc/xianyu-nope"],
        ["--data-dir", "/proc"],  # exists, but nothing can be created in it
        ["--data-dir", "{d}/data", "--database-url", "sqlite:////proc/nope/x.db"],
        ["--data-dir", "{d}/data", "--database-url", "postgresql://u:pw@127.0.0.1:1/db"],
        ["--data-dir", "{d}/data", "--database-url", "mysql://x"],
    ],
)
def test_serve_with_a_bad_place_exits_1_with_one_line_and_no_traceback(
    short_dir: Path, options: list[str]
):
    (short_dir / "afile").write_text("")
    argv = [o.format(d=short_dir) for o in options]
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIANYU_")}
    done = subprocess.run(
        [sys.executable, "run.py", "serve", *argv, "--log-format", "console"],
        cwd=REPO,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = [
        line
        for line in done.stderr.splitlines()
        if "service_" not in line and "control_" not in line
    ]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("xianyu-supervisor: cannot") or "unsupported" in lines[0]
    assert "Traceback" not in done.stderr
    assert ":pw@" not in done.stderr
