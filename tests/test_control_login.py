"""QR-code login end to end: a real service (control socket, supervisor, account actors, the
passport client) against the simulator, whose admin ``qr/scan`` and ``qr/confirm`` play the
seller's phone; and ``ctl login`` in-process through ``control.cli.main``."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from control.cli import main as ctl_main
from control.client import ControlClient
from control.errors import ControlError
from control.login_cli import run_login
from service.app import Service
from simulator.server import SimulatorHandle
from tests.plugins.faults import FAULT_TIMINGS, add_echo_account, event_kinds, row, wait_state
from tests.plugins.simulator import Seller, new_seller
from tests.plugins.timing import scaled, wait_for
from tests.plugins.vocabulary import OUTCOME_FIELDS

pytestmark = pytest.mark.usefixtures("secrets_guard")

LOGIN_TIMINGS = replace(FAULT_TIMINGS, qr_poll_s=FAULT_TIMINGS.qr_poll_s / 40)  # 50 ms


@pytest.fixture
def svc(start_service: Callable[..., Service]) -> Service:
    return start_service(timings=LOGIN_TIMINGS)


@pytest.fixture
def ctl(svc: Service) -> Iterator[ControlClient]:
    with ControlClient(svc.socket_path, timeout=scaled(30)) as client:
        yield client


def poll_until(ctl: ControlClient, login_id: str, state: str) -> dict[str, Any]:
    return wait_for(
        lambda: (a := ctl.call("login_poll", login_id=login_id))["state"] == state and a,
        what=f"login {state}",
    )


def applied(ctl: ControlClient, login_id: str) -> dict[str, Any]:
    return wait_for(
        lambda: (a := ctl.call("login_poll", login_id=login_id))["result"] is not None and a,
        what="the login's update result",
    )


def code_of(sim: SimulatorHandle, started: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in sim.admin.qr_codes() if c["lg_token"] in started["qr_text"])


@pytest.mark.parametrize("variant", ["cookies", "token"])
def test_login_of_an_existing_account_swaps_to_the_new_session(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient, seller: Seller, variant: str
) -> None:
    add_echo_account(svc.client, "shop", seller)
    before = row(svc.client, "shop")["cookie_version"]
    started = ctl.call("login_start", account="shop")
    assert set(started) == {"login_id", "qr_text", "expires_at"}
    assert "lgToken=" in started["qr_text"]
    login_id = started["login_id"]
    first = ctl.call("login_poll", login_id=login_id)
    assert (first["state"], first["result"]) == ("waiting", None)

    sim.admin.qr_scan(seller.user_id, lg_token=code_of(sim, started)["lg_token"])
    poll_until(ctl, login_id, "scanned")
    sim.admin.qr_confirm(variant=variant)
    answer = applied(ctl, login_id)

    assert answer["state"] == "confirmed"
    assert set(answer["result"]) >= OUTCOME_FIELDS
    assert answer["result"]["outcome"] == "applied"
    assert answer["result"]["previous_version"] == before
    status = wait_state(svc.client, "shop", "online")
    assert status["cookie_version"] == answer["result"]["version"] != before
    assert sim.admin.user_state(seller.user_id)["qr_logins"] == 1
    assert "update_applied" in event_kinds(svc.client, "shop")


def test_login_of_a_new_account_adds_it(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient
) -> None:
    seller = new_seller(sim, nick="fresh")  # a seller the service has never seen
    started = ctl.call("login_start", account="fresh", new=True)
    sim.admin.qr_scan(seller.user_id)
    sim.admin.qr_confirm(variant="token")
    answer = applied(ctl, started["login_id"])

    assert answer["result"] == {"outcome": "added", "account": "fresh"}
    status = wait_state(svc.client, "fresh", "online")
    assert status["user_id"] == seller.user_id


def test_new_needs_an_unknown_account_and_a_login_a_known_one(
    svc: Service, ctl: ControlClient, seller: Seller
) -> None:
    add_echo_account(svc.client, "shop", seller, online=False)
    with pytest.raises(ControlError) as exists:
        ctl.call("login_start", account="shop", new=True)
    assert exists.value.code == "exists"
    with pytest.raises(ControlError) as missing:
        ctl.call("login_start", account="nobody")
    assert missing.value.code == "not_found"
    assert "--new" in missing.value.message


def test_another_sellers_login_is_refused_and_nothing_changes(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient, seller: Seller
) -> None:
    add_echo_account(svc.client, "shop", seller)
    before = row(svc.client, "shop")
    other = new_seller(sim, nick="other")
    started = ctl.call("login_start", account="shop")
    sim.admin.qr_scan(other.user_id)
    sim.admin.qr_confirm()

    def refused() -> ControlError | None:
        try:
            ctl.call("login_poll", login_id=started["login_id"])
        except ControlError as exc:
            return exc
        return None

    error = wait_for(refused, what="the conflict")
    assert error.code == "conflict"
    assert other.user_id in error.message and seller.user_id in error.message
    after = row(svc.client, "shop")
    assert (after["state"], after["cookie_version"], after["user_id"]) == (
        "online",
        before["cookie_version"],
        seller.user_id,
    )
    assert len(svc.client.history("shop")["versions"]) == 1


@pytest.mark.parametrize("ending", ["expire", "cancel_on_phone", "cancel_by_operator"])
def test_codes_that_end_unconfirmed_end_cleanly(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient, seller: Seller, ending: str
) -> None:
    add_echo_account(svc.client, "shop", seller, online=False)
    started = ctl.call("login_start", account="shop")
    login_id = started["login_id"]
    if ending == "expire":
        sim.admin.qr_expire()
        answer = poll_until(ctl, login_id, "expired")
    elif ending == "cancel_on_phone":
        sim.admin.qr_scan(seller.user_id)
        poll_until(ctl, login_id, "scanned")
        sim.admin.qr_cancel()
        answer = poll_until(ctl, login_id, "cancelled")
    else:
        answer = ctl.call("login_cancel", login_id=login_id)
        assert answer["state"] == "cancelled"
        sim.admin.qr_scan(seller.user_id)
        sim.admin.qr_confirm()  # the phone confirms after the operator gave up: ignored
    assert answer["result"] is None
    assert ctl.call("login_poll", login_id=login_id)["state"] == answer["state"]
    assert len(svc.client.history("shop")["versions"]) == 1
    assert "update_applied" not in event_kinds(svc.client, "shop")


def test_a_newer_login_of_the_same_account_replaces_the_older(
    svc: Service, ctl: ControlClient, seller: Seller
) -> None:
    add_echo_account(svc.client, "shop", seller, online=False)
    first = ctl.call("login_start", account="shop")
    ctl.call("login_start", account="shop")
    assert ctl.call("login_poll", login_id=first["login_id"])["state"] == "cancelled"
    with pytest.raises(ControlError) as unknown:
        ctl.call("login_poll", login_id="no-such-login")
    assert unknown.value.code == "not_found"


def test_verification_keeps_polling_until_the_phone_finishes(
    sim: SimulatorHandle, svc: Service, ctl: ControlClient, seller: Seller
) -> None:
    add_echo_account(svc.client, "shop", seller)
    started = ctl.call("login_start", account="shop")
    sim.admin.qr_scan(seller.user_id)
    sim.admin.qr_confirm(variant="verify")
    answer = poll_until(ctl, started["login_id"], "verification_required")
    assert "http" in answer["message"]
    sim.admin.qr_confirm(variant="cookies")
    assert applied(ctl, started["login_id"])["result"]["outcome"] == "applied"


def test_passport_unreachable_is_login_failed(
    start_service: Callable[..., Service], short_dir: Path
) -> None:
    svc = start_service(timings=LOGIN_TIMINGS, passport_url="http://127.0.0.1:9/passport/")
    with (
        ControlClient(svc.socket_path, timeout=scaled(30)) as client,
        pytest.raises(ControlError) as failed,
    ):
        client.call("login_start", account="x", new=True)
    assert failed.value.code == "login_failed"


# --- ctl login ------------------------------------------------------------------------


class Phone(threading.Thread):
    """Plays the seller's phone: scans the newest code once one exists, then confirms."""

    def __init__(
        self,
        sim: SimulatorHandle,
        user_id: str,
        action: str = "confirm",
        *,
        seen: Callable[[], bool] = lambda: True,
    ) -> None:
        super().__init__(daemon=True)
        self.sim, self.user_id, self.action, self.seen = sim, user_id, action, seen
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            wait_for(
                lambda: any(c["state"] == "NEW" for c in self.sim.admin.qr_codes()),
                what="a new QR code",
            )
            wait_for(self.seen, what="the operator to see the code")
            if self.action == "expire":
                self.sim.admin.qr_expire()
                return
            self.sim.admin.qr_scan(self.user_id)
            self.sim.admin.qr_confirm()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self.error = exc


def run_ctl(svc: Service, *args: str, out: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = out or io.StringIO(), io.StringIO()
    argv = ["--socket", str(svc.socket_path), "login", *args, "--poll-interval", "0.02"]
    code = ctl_main(argv, stdout=out, stderr=err, env={})
    return code, out.getvalue(), err.getvalue()


def test_ctl_login_shows_the_code_follows_the_states_and_applies(
    sim: SimulatorHandle, svc: Service, seller: Seller, tmp_path: Path, secrets_guard: Any
) -> None:
    add_echo_account(svc.client, "shop", seller)
    screen = io.StringIO()
    phone = Phone(sim, seller.user_id, seen=lambda: "login: waiting" in screen.getvalue())
    phone.start()
    png = tmp_path / "qr.png"
    code, out, err = run_ctl(svc, "shop", "--png", str(png), out=screen)
    phone.join(timeout=scaled(10))
    assert phone.error is None
    secrets_guard.add_text("ctl stdout", out)
    secrets_guard.add_text("ctl stderr", err)
    assert code == 0, err
    assert "▀" in out or "█" in out  # the code, drawn with half blocks
    assert png.read_bytes().startswith(b"\x89PNG")
    last_line = out.split("\r")[-1]
    assert "waiting" in out and "confirmed" in last_line
    assert "applied version" in out
    wait_state(svc.client, "shop", "online")


def test_ctl_login_new_account_and_expired_code_exit_codes(
    sim: SimulatorHandle, svc: Service
) -> None:
    seller = new_seller(sim, nick="shop-new")
    phone = Phone(sim, seller.user_id)
    phone.start()
    code, out, err = run_ctl(svc, "shop-new", "--new")
    phone.join(timeout=scaled(10))
    assert code == 0, err
    assert "added" in out

    phone = Phone(sim, seller.user_id, action="expire")
    phone.start()
    code, _, err = run_ctl(svc, "shop-new")
    phone.join(timeout=scaled(10))
    assert code == 2
    assert "expired" in err


def test_ctl_login_ctrl_c_cancels(svc: Service, seller: Seller) -> None:
    add_echo_account(svc.client, "shop", seller, online=False)
    out, err = io.StringIO(), io.StringIO()

    def interrupt(_seconds: float) -> None:
        raise KeyboardInterrupt  # Ctrl-C while waiting for the scan

    with ControlClient(svc.socket_path, timeout=scaled(30)) as client:
        code = run_login(client, "shop", new=False, stdout=out, stderr=err, sleep=interrupt)
        codes = client.call("status", account="shop")
    assert code == 2
    assert "login cancelled" in err.getvalue()
    assert "waiting" in out.getvalue()
    assert codes["accounts"][0]["cookie_version"] == 1
    assert len(svc.client.history("shop")["versions"]) == 1
