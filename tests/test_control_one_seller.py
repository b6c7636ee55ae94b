"""One seller, one account (issue 14): ``add``, ``update`` and a new QR login of a seller that
another account already has are refused with ``conflict`` naming that account, through the
real control socket of a real service against the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from common.errors import ConflictError
from control.client import ControlClient
from control.errors import ControlError
from service.app import Service
from simulator.server import SimulatorHandle
from tests.plugins.faults import FAULT_TIMINGS, add_echo_account, event_kinds, row
from tests.plugins.simulator import Seller, new_seller, second_login
from tests.plugins.timing import scaled, wait_for

pytestmark = pytest.mark.usefixtures("secrets_guard")


@pytest.fixture
def svc(start_service: Callable[..., Service]) -> Service:
    return start_service(timings=replace(FAULT_TIMINGS, qr_poll_s=FAULT_TIMINGS.qr_poll_s / 40))


@pytest.fixture
def ctl(svc: Service) -> Iterator[ControlClient]:
    with ControlClient(svc.socket_path, timeout=scaled(30)) as client:
        yield client


def refused(call: Callable[[], object]) -> ControlError:
    with pytest.raises(ControlError) as error:
        call()
    assert error.value.code == "conflict"
    return error.value


def test_adding_a_second_account_of_a_seller_is_refused_and_the_first_keeps_serving(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient, seller: Seller
) -> None:
    add_echo_account(svc.client, "shop", seller)
    another_login = second_login(sim, seller)  # not even the same cookie: the same seller
    error = refused(lambda: ctl.call("add", account="shop-2", cookie=another_login))
    assert f"seller {seller.user_id} already belongs to account 'shop'" in error.message
    assert "ctl remove shop" in error.message  # what to do
    assert [a["id"] for a in ctl.call("status")["accounts"]] == ["shop"]
    first = row(svc.client, "shop")
    assert (first["state"], first["reconnects"]) == ("online", 0)
    # the SupervisorClient refuses the same way (a disabled add too: it would start later)
    with pytest.raises(ConflictError, match="already belongs to account 'shop'"):
        svc.client.add("shop-3", another_login, enabled=False)


def test_updating_an_account_to_a_seller_another_account_has_is_refused_even_forced(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient, seller: Seller
) -> None:
    other = new_seller(sim, nick="other")
    add_echo_account(svc.client, "shop", seller)
    add_echo_account(svc.client, "other", other)
    theirs = second_login(sim, other)
    for force in (False, True):  # --force is for a seller nobody has, not for a taken one
        error = refused(
            lambda force=force: ctl.call(
                "update", account="shop", cookie=theirs, force=force, wait=False
            )
        )
        assert f"seller {other.user_id} already belongs to account 'other'" in error.message
    assert len(svc.client.history("shop")["versions"]) == 1
    assert "update_applied" not in event_kinds(svc.client, "shop")
    # the account's own seller is still welcome, and a free seller with --force too
    mine = second_login(sim, seller)
    assert ctl.call("update", account="shop", cookie=mine)["outcome"] == "applied"
    free = new_seller(sim, nick="free")
    assert ctl.call("update", account="shop", cookie=free.cookie, force=True)["outcome"] == (
        "applied"
    )


def test_a_seller_is_free_again_once_its_account_is_removed(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient, seller: Seller
) -> None:
    add_echo_account(svc.client, "shop", seller, online=False)
    refused(lambda: ctl.call("add", account="shop-2", cookie=second_login(sim, seller)))
    ctl.call("remove", account="shop")
    assert ctl.call("add", account="shop-2", cookie=second_login(sim, seller)) == {
        "outcome": "added",
        "account": "shop-2",
    }


def test_a_new_qr_login_of_a_seller_another_account_has_is_refused(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient, seller: Seller
) -> None:
    add_echo_account(svc.client, "shop", seller)
    started = ctl.call("login_start", account="shop-2", new=True)
    sim.admin.qr_scan(seller.user_id)
    sim.admin.qr_confirm(variant="token")

    def conflict() -> ControlError | None:
        try:
            ctl.call("login_poll", login_id=started["login_id"])
        except ControlError as exc:
            return exc
        return None

    error = wait_for(conflict, what="the conflict")
    assert error.code == "conflict"
    assert "already belongs to account 'shop'" in error.message
    assert [a["id"] for a in ctl.call("status")["accounts"]] == ["shop"]
