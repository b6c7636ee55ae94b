"""RECEIVED/REPLIED survive a restart of the service; operator restarts are not crashes
(issue 12 §1.16)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from actors.testing import TINY_TIMINGS
from common.settings import Backoff, Settings
from control.client import ControlClient
from service.app import Service
from storage import DefaultReply
from tests.plugins.simulator import Seller
from tests.plugins.timing import wait_for

BUYER = "880001"
TIMINGS = replace(TINY_TIMINGS, probation_s=2.0, restart_backoff=Backoff(base_s=0.02, cap_s=0.1))


def row(ctl: ControlClient, account: str) -> dict[str, Any]:
    return ctl.call("status", account=account)["accounts"][0]


def add_online(ctl: ControlClient, account: str, seller: Seller) -> None:
    ctl.call("add", account=account, cookie=seller.cookie)
    wait_for(lambda: row(ctl, account)["state"] == "online", what=f"{account} online")


def test_counters_are_lifetime_totals_and_operator_restarts_are_not_crashes(
    sim, seller, short_dir: Path
):
    # a generous stop deadline: a restart cut off at it would rightly count as a crash
    timings = replace(TIMINGS, stop_timeout_s=10.0)
    settings = Settings(data_dir=short_dir, ws_url=sim.ws_url, api_url=sim.api_url, timings=timings)
    with Service(settings) as service, ControlClient(service.socket_path, timeout=30) as ctl:
        add_online(ctl, "shop", seller)
        service.store.set_rules("shop", [], DefaultReply("在的", once_per_chat=False))
        for text in ("一", "二"):
            sim.admin.push(to=seller.user_id, from_=BUYER, text=text)
        wait_for(lambda: row(ctl, "shop")["replied"] >= 2, what="two replies")
        assert ctl.call("restart", account="shop")["outcome"] == "restarted"
        after = row(ctl, "shop")
        assert (after["restarts"], after["crashes"]) == (1, 0)  # an operator action
    with Service(settings) as service, ControlClient(service.socket_path, timeout=30) as ctl:
        again = wait_for(lambda: (r := row(ctl, "shop"))["state"] == "online" and r, what="online")
        # replies are exactly-once; received may grow (the restart's backfill reads them again)
        assert again["replied"] == after["replied"] >= 2
        assert again["received"] >= after["received"] >= 2
        assert (again["restarts"], again["crashes"]) == (0, 0)  # restarts: since start
