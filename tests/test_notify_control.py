"""Configuring notifications: ``serve --notify``, ``ctl set ACCOUNT --notify``, ``ctl notify-test``.

Notification URLs hold credentials: no answer, CLI output or log shows more than
``scheme://host #fingerprint``.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from common.secret_urls import url_label
from common.settings import Backoff
from control.arguments import validate_arguments
from control.cli import main
from control.dispatch import Dispatcher
from control.errors import ControlError
from service.app import Service
from service.cli import build_parser, settings_from_args
from tests.plugins.control import FakeSupervisor
from tests.plugins.faults import FAULT_TIMINGS, SecretsGuard, add_echo_account
from tests.plugins.simulator import Seller
from tests.plugins.webhook import Webhook

TIMINGS = replace(FAULT_TIMINGS, notify_poll_s=0.05, notify_backoff=Backoff(0.1, 0.3, 0.0))
SECRET_PATH = "hook-token-5f1c9e"
REPO = Path(__file__).resolve().parent.parent


def dead_url() -> str:
    """A URL on a loopback port where nothing listens (the port is closed again at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"json://127.0.0.1:{port}/{SECRET_PATH}"


def ctl(service: Service, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*argv, "--socket", str(service.socket_path)], stdout=out, stderr=err, env={})
    return code, out.getvalue(), err.getvalue()


# --- serve --notify ---------------------------------------------------------------------


def test_serve_takes_repeated_notify_urls_over_the_environment() -> None:
    env = {"XIANYU_NOTIFY_URLS": "json://127.0.0.1/a  json://127.0.0.1/b"}
    assert settings_from_args(build_parser(env).parse_args([])).notify_urls == (
        "json://127.0.0.1/a",
        "json://127.0.0.1/b",
    )
    args = build_parser(env).parse_args(["--notify", "json://h/x", "--notify", "form://h/y"])
    settings = settings_from_args(args)
    assert settings.notify_urls == ("json://h/x", "form://h/y")
    assert "json://h/x" not in repr(settings)


def test_serve_refuses_an_unusable_url_naming_it_by_label_only() -> None:
    args = build_parser({}).parse_args(["--notify", f"nosuchservice://{SECRET_PATH}"])
    with pytest.raises(ValueError, match="not one apprise can use") as caught:
        settings_from_args(args)
    assert SECRET_PATH not in str(caught.value) and "nosuchservice://… #" in str(caught.value)


# --- arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("json://h/x", ["json://h/x"]),
        (["json://h/x", " tgram://1:2/3 "], ["json://h/x", "tgram://1:2/3"]),
        ("", []),
        ([], []),
    ],
)
def test_set_takes_a_url_or_a_list_and_empty_clears(given: object, stored: list[str]) -> None:
    assert validate_arguments("set", {"account": "a", "notify": given})["notify"] == stored


@pytest.mark.parametrize("given", [12, [12], ["no scheme here"], ["json://h"] * 21, {"u": 1}])
def test_set_refuses_what_is_not_a_url_list(given: object) -> None:
    with pytest.raises(ControlError, match="argument 'notify' must be an apprise URL") as caught:
        validate_arguments("set", {"account": "a", "notify": given})
    assert caught.value.code == "bad_request" and "no scheme here" not in str(caught.value)


def test_without_notifications_the_commands_say_so() -> None:
    dispatcher = Dispatcher(FakeSupervisor())
    answer = json.loads(dispatcher.handle_line(b'{"id": 1, "cmd": "notify_test"}'))
    assert answer["error"]["code"] == "conflict"
    assert "notifications are not running" in answer["error"]["message"]


# --- against a running service -------------------------------------------------------------


def test_an_accounts_own_url_is_stored_shown_by_label_and_cleared(
    start_service: Callable[..., Service], seller: Seller, webhook: Webhook
) -> None:
    service = start_service(timings=TIMINGS)
    add_echo_account(service.client, "shop", seller, online=False)
    own = webhook.url_with(SECRET_PATH)
    code, out, err = ctl(service, "set", "shop", "--notify", own, "--json")
    assert code == 0, err
    assert json.loads(out)["account"]["notify"] == [url_label(own)]
    assert SECRET_PATH not in out and service.store.notify_urls("shop") == (own,)

    code, out, err = ctl(service, "set", "shop", "--notify", f"nosuch://{SECRET_PATH}")
    assert code == 1 and "bad_request" in err and "not one apprise can use" in err
    assert SECRET_PATH not in out + err and service.store.notify_urls("shop") == (own,)

    code, out, _ = ctl(service, "set", "shop", "--notify", "", "--json")
    assert code == 0 and json.loads(out)["account"]["notify"] == []
    assert service.store.notify_urls("shop") == ()


def test_notify_test_reports_each_url(
    start_service: Callable[..., Service],
    seller: Seller,
    webhook: Webhook,
    secrets_guard: SecretsGuard,
) -> None:
    dead = dead_url()
    live = webhook.url_with(SECRET_PATH)
    service = start_service(timings=TIMINGS, notify_urls=(live,))
    add_echo_account(service.client, "shop", seller, online=False)
    service.client.set_account("shop", notify=[dead])

    code, out, err = ctl(service, "notify-test")
    assert code == 1, err  # one of them did not arrive
    assert "1 sent, 1 failed" in out and "FAILED" in out and SECRET_PATH not in out
    (notice,) = webhook.wait(1)
    assert notice["title"] == "xianyu-supervisor test notice" and notice["type"] == "info"

    code, out, _ = ctl(service, "notify-test", "--json")
    results = {r["url"]: r for r in json.loads(out)["results"]}
    assert results[url_label(live)]["ok"] is True
    assert results[url_label(live)]["for"] == ["global"]
    assert results[url_label(dead)] == {
        "url": url_label(dead),
        "for": ["shop"],
        "ok": False,
        "error": f"{url_label(dead)} refused the notice or did not answer",
    }
    logged = secrets_guard.log_text()
    assert "notify_test" in logged
    assert SECRET_PATH not in logged  # the service logs labels only


def test_notify_test_with_no_urls_says_how_to_add_one(
    start_service: Callable[..., Service], short_dir: Path
) -> None:
    service = start_service(timings=TIMINGS)
    code, out, _ = ctl(service, "notify-test")
    assert code == 0 and "no notification URLs" in out and "--notify URL" in out


def test_serve_with_an_unusable_url_stops_before_starting(short_dir: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "run.py",
            "serve",
            "--data-dir",
            str(short_dir),
            "--notify",
            f"nosuch://{SECRET_PATH}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "nosuch://… #" in done.stderr and SECRET_PATH not in done.stderr + done.stdout
    assert not (short_dir / "control.sock").exists()
