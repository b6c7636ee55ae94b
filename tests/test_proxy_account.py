"""Per-account proxies (issue 12 §4): a real local proxy (pproxy) in front of the simulator.

The proxy's own verbose log says which connections went through it; the account must reach
both the token API and the IM WebSocket that way, a dead proxy must put only that account in
``backoff`` with a ``last_error`` naming the proxy's host (never its credentials), and the
credentials appear nowhere the operator looks.
"""

from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from common.errors import InvalidValueError
from common.proxy import check_proxy, proxy_label
from common.redact import redact_text
from control.cli import main as ctl_main
from service.app import Service
from simulator.server import SimulatorHandle
from tests.plugins.faults import FAULT_TIMINGS, SecretsGuard, add_echo_account, row, wait_state
from tests.plugins.simulator import Seller, new_seller
from tests.plugins.timing import scaled, wait_for

USER, PASSWORD = "proxyuser", "proxy-pass-7f3a9c"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Proxy:
    url: str  # what the account is given (with the credentials)
    port: int
    log: Path

    def seen(self) -> str:
        return self.log.read_text(errors="replace")

    def connections(self, url: str) -> int:
        """How many connections to ``url``'s host:port went through the proxy."""
        parts = urlsplit(url)
        return self.seen().count(f"-> {parts.hostname}:{parts.port}")

    def saw(self, url: str) -> bool:
        return self.connections(url) > 0


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[Callable[[str], Proxy]]:
    """``start_proxy("socks5")``: a pproxy process on a free loopback port, with a password."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(scheme: str) -> Proxy:
        port = free_port()
        log = tmp_path / f"pproxy-{port}.log"
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "pproxy",
                        "-l",
                        f"{scheme}://127.0.0.1:{port}#{USER}:{PASSWORD}",
                        "-v",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )

        def listening() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                return True
            return False

        wait_for(listening, timeout=15, what=f"pproxy on {port}")
        return Proxy(f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}", port, log)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=scaled(10))


@pytest.fixture
def guarded(secrets_guard: SecretsGuard) -> SecretsGuard:
    secrets_guard.secrets.add(PASSWORD)
    return secrets_guard


@pytest.mark.parametrize("scheme", ["socks5", "http"])
def test_the_accounts_token_calls_and_websocket_go_through_its_proxy(
    scheme: str,
    start_service: Callable[..., Service],
    start_proxy: Callable[[str], Proxy],
    sim: SimulatorHandle,
    seller: Seller,
    guarded: SecretsGuard,
):
    proxy = start_proxy(scheme)
    service = start_service()
    service.client.add("shop", seller.cookie, enabled=False, proxy=proxy.url)
    service.client.set_rules("shop", [], {"text": "auto: {text}", "once_per_chat": False})
    direct = new_seller(sim, nick="direct")
    add_echo_account(service.client, "direct", direct)
    assert not proxy.saw(sim.ws_url), "the direct account went through the proxy"

    service.client.enable("shop")
    wait_state(service.client, "shop", "online")
    assert proxy.saw(sim.api_url), proxy.seen()
    assert proxy.saw(sim.ws_url), proxy.seen()
    sim.admin.push(to=seller.user_id, from_="880001", text="hello")
    wait_for(
        lambda: "auto: hello" in [m["text"] for m in sim.admin.sent(seller.user_id)],
        timeout=10,
        what="the reply through the proxy",
    )
    shown = service.client.set_account("shop")["account"]["proxy"]
    assert shown == f"{scheme}://127.0.0.1:{proxy.port}"
    guarded.add_text("set answer", repr(service.client.set_account("shop")))


def test_a_dead_proxy_backs_off_that_account_only_and_names_the_proxy_host(
    start_service: Callable[..., Service],
    start_proxy: Callable[[str], Proxy],
    sim: SimulatorHandle,
    seller: Seller,
    guarded: SecretsGuard,
):
    service = start_service()
    other = new_seller(sim, nick="other")
    add_echo_account(service.client, "other", other)
    add_echo_account(service.client, "shop", seller)
    dead_port = free_port()  # nothing listens there
    dead = f"socks5://{USER}:{PASSWORD}@127.0.0.1:{dead_port}"

    service.client.set_account("shop", proxy=dead)  # restarts it onto the proxy
    status = wait_for(
        lambda: (
            (r := row(service.client, "shop"))["state"] == "backoff"
            and "proxy" in (r["last_error"] or "")
            and r
        ),
        timeout=10,
        what="shop backing off on the dead proxy",
    )
    assert f"socks5://127.0.0.1:{dead_port}" in status["last_error"]
    assert PASSWORD not in status["last_error"]
    assert USER not in status["last_error"]
    assert row(service.client, "other")["state"] == "online"
    guarded.add_text("status", repr(service.client.status()))

    # a working proxy, then none: the account follows each change at once
    proxy = start_proxy("socks5")
    service.client.set_account("shop", proxy=proxy.url)
    wait_state(service.client, "shop", "online")
    assert proxy.saw(sim.ws_url)
    service.client.set_account("shop", proxy="")
    assert service.client.set_account("shop")["account"]["proxy"] is None
    wait_for(
        lambda: (
            row(service.client, "shop")["state"] == "online"
            and row(service.client, "shop")["restarts"] >= 3
        ),
        timeout=10,
        what="shop online again, direct",
    )


@pytest.mark.parametrize(
    "bad", ["ftp://127.0.0.1:21", "127.0.0.1:1080", "socks5://", "http://h:99999"]
)
def test_a_bad_proxy_url_is_refused_without_quoting_credentials(
    bad: str, start_service: Callable[..., Service], seller: Seller
):
    service = start_service()
    with pytest.raises(InvalidValueError, match="proxy must be an http://, https:// or socks5://"):
        service.client.add("shop", seller.cookie, proxy=bad)
    with pytest.raises(InvalidValueError) as refused:
        service.client.add("shop", seller.cookie, proxy=f"ftp://{USER}:{PASSWORD}@h:21")
    assert PASSWORD not in str(refused.value)


def run_ctl(service: Service, *argv: str) -> tuple[int, str]:
    """``python run.py ctl --data-dir <the service's> ARGV``: exit code and everything printed."""
    out, err = io.StringIO(), io.StringIO()
    data_dir = str(service.settings.data_dir)
    code = ctl_main(["--data-dir", data_dir, *argv], stdout=out, stderr=err, env={})
    return code, out.getvalue() + err.getvalue()


def test_ctl_add_and_set_take_a_proxy_and_never_print_its_credentials(
    start_service: Callable[..., Service],
    start_proxy: Callable[[str], Proxy],
    sim: SimulatorHandle,
    seller: Seller,
    guarded: SecretsGuard,
    tmp_path: Path,
):
    service = start_service()
    proxy = start_proxy("socks5")
    cookie_file = tmp_path / "shop.cookie"
    cookie_file.write_text(seller.cookie)
    shown = f"socks5://127.0.0.1:{proxy.port}"

    code, printed = run_ctl(
        service, "add", "shop", "--cookie-file", str(cookie_file), "--proxy", proxy.url
    )
    assert code == 0, printed
    wait_state(service.client, "shop", "online")
    assert proxy.saw(sim.ws_url)
    code, shown_by_set = run_ctl(service, "set", "shop", "--remark", "via proxy")
    assert code == 0, shown_by_set
    assert f"proxy: {shown}" in shown_by_set
    code, refused = run_ctl(service, "set", "shop", "--proxy", f"ftp://{USER}:{PASSWORD}@h:21")
    assert code == 1
    assert "proxy" in refused
    code, cleared = run_ctl(service, "set", "shop", "--proxy", "")
    assert code == 0, cleared
    assert shown not in cleared
    for where, text in (("add", printed), ("set", shown_by_set), ("refused", refused)):
        guarded.add_text(f"ctl {where}", text)


def test_the_logging_safety_net_drops_credentials_from_any_url():
    text = f"through socks5://{USER}:{PASSWORD}@127.0.0.1:1080 and postgresql://a:b@db/x"
    redacted = redact_text(text)
    assert PASSWORD not in redacted
    assert USER not in redacted
    assert "socks5://<redacted>@127.0.0.1:1080" in redacted
    assert "postgresql://<redacted>@db/x" in redacted
    assert redact_text("http://127.0.0.1:3128/path") == "http://127.0.0.1:3128/path"


def test_a_proxy_is_shown_by_scheme_host_and_port_only():
    assert proxy_label(f"socks5://{USER}:{PASSWORD}@10.0.0.7:1080") == "socks5://10.0.0.7:1080"
    assert proxy_label("http://10.0.0.8") == "http://10.0.0.8:80"
    assert proxy_label("") == ""
    assert check_proxy("  https://10.0.0.9:8443 ") == "https://10.0.0.9:8443"
    with pytest.raises(InvalidValueError) as refused:
        check_proxy(f"socks5://{USER}:{PASSWORD}@h:1080/path")
    assert PASSWORD not in str(refused.value)


def test_a_renewal_goes_through_the_accounts_proxy(
    start_service: Callable[..., Service],
    start_proxy: Callable[[str], Proxy],
    sim: SimulatorHandle,
    seller: Seller,
    guarded: SecretsGuard,
):
    # no proactive renewal during the test: only the one asked for
    service = start_service(timings=replace(FAULT_TIMINGS, renew_interval_s=scaled(3600.0)))
    proxy = start_proxy("socks5")
    service.client.add("shop", seller.cookie, proxy=proxy.url)
    wait_state(service.client, "shop", "online")
    # the passport shares the simulator's HTTP port with the token API: count connections
    before = proxy.connections(sim.passport_url)
    result = service.client.renew("shop")
    assert result["renewal"] == "renewed", result
    assert proxy.connections(sim.passport_url) > before, proxy.seen()
