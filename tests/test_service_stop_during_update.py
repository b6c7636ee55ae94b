"""Stopping the service while an update waits out its probation (what SIGTERM does) is a
clean shutdown: no error line, no CancelledError traceback (issue 12 §1.13)."""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from actors.testing import TINY_TIMINGS, FreezableAccountActor
from common.settings import Settings
from control.client import ControlClient
from control.errors import ControlError
from service.app import Service
from tests.plugins.timing import wait_for


@pytest.mark.no_secrets_guard  # the log records are read here (structlog goes to stdlib)
def test_a_stop_during_an_update_logs_no_error(sim, seller, short_dir: Path, caplog):
    caplog.set_level(logging.INFO)
    # the freeze ends well within the stop deadline: the account then stops gracefully
    timings = replace(TINY_TIMINGS, probation_s=30.0, stop_timeout_s=5.0)
    settings = Settings(data_dir=short_dir, ws_url=sim.ws_url, api_url=sim.api_url, timings=timings)
    service = Service(settings, actor_class=FreezableAccountActor).start()
    answers: list[object] = []
    try:
        with ControlClient(service.socket_path, timeout=30) as c:
            c.call("add", account="shop", cookie=seller.cookie)
            wait_for(
                lambda: c.call("status", account="shop")["accounts"][0]["state"] == "online",
                what="online",
            )
        # the account's thread is busy: the swap waits, and the update with it
        service.client.freeze("shop", 1.5)
        fresh = sim.admin.create_user(user_id=seller.user_id)["cookie"]

        def update() -> None:
            try:
                with ControlClient(service.socket_path, timeout=30) as c:
                    answers.append(c.call("update", account="shop", cookie=fresh))
            except ControlError as exc:
                answers.append(exc)

        caller = threading.Thread(target=update)
        caller.start()
        wait_for(lambda: "update_started" in caplog.text, what="the update under way")
    finally:
        service.stop()
    caller.join(timeout=30)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage()[:300] for r in errors]
    assert "CancelledError" not in caplog.text
    assert "control_request_interrupted" in caplog.text  # said at INFO: expected at a stop
    assert answers and isinstance(answers[0], ControlError), answers
