"""``Service`` in-process: start order, the data dir it claims, and a clean stop."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from actors.testing import TINY_TIMINGS
from common.errors import ConflictError
from common.settings import Settings
from control.client import ControlClient
from service.app import Service


@pytest.fixture
def settings(sim, short_dir: Path) -> Settings:
    # a data dir the service has to create
    data_dir = short_dir / "data"
    return Settings(data_dir=data_dir, ws_url=sim.ws_url, api_url=sim.api_url, timings=TINY_TIMINGS)


def test_start_creates_a_private_data_dir_and_stop_leaves_nothing_running(settings):
    threads_before = set(threading.enumerate())
    with Service(settings) as service:
        assert stat.S_IMODE(os.stat(settings.data_dir).st_mode) == 0o700
        assert (settings.data_dir / "xianyu.db").exists()
        with ControlClient(service.socket_path) as c:
            assert c.call("status") == {"accounts": []}
    assert not settings.socket_path.exists()
    leftover = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert leftover == []


def test_a_second_service_on_the_same_data_dir_is_refused_and_the_first_keeps_serving(settings):
    with Service(settings) as first:
        with pytest.raises(ConflictError, match="already listening"):
            Service(settings).start()
        with ControlClient(first.socket_path) as c:
            assert c.call("ping")
