"""The control socket server against a fake supervisor: a real UNIX socket, real threads."""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from common.errors import ConflictError, InvalidValueError
from control.client import ControlClient
from control.dispatch import Dispatcher
from control.errors import ControlError
from control.server import ControlServer
from tests.plugins.control import FakeSupervisor, connect_as_nobody
from tests.plugins.timing import wait_for
from tests.plugins.vocabulary import VERSION_FIELDS

COOKIE = "unb=2200000001; cookie2=c2secret; _m_h5_tk=tk123_1700000000000; sgcookie=sgsecret"


@pytest.fixture
def fake() -> FakeSupervisor:
    return FakeSupervisor()


@pytest.fixture
def server(short_dir: Path, fake: FakeSupervisor) -> Iterator[ControlServer]:
    threads_before = set(threading.enumerate())
    srv = ControlServer(
        short_dir / "control.sock", Dispatcher(fake, version="9.9").handle_line
    ).start()
    yield srv
    fake.release.set()
    srv.stop()
    leftover = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert leftover == []


@pytest.fixture
def client(server: ControlServer) -> Iterator[ControlClient]:
    with ControlClient(server.path, timeout=10) as c:
        yield c


def test_socket_file_is_owner_only(server):
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600


def test_ping_answers_version_and_uptime(client):
    result = client.call("ping")
    assert result["version"] == "9.9"
    assert result["uptime_s"] >= 0


def test_response_echoes_any_request_id(client):
    client.send_raw(b'{"id": {"k": [1, "x"]}, "cmd": "ping"}\n')
    assert client.read_response()["id"] == {"k": [1, "x"]}


def test_every_command_reaches_the_supervisor(client, fake):
    assert client.call("add", account="a", cookie=COOKIE, remark="r")["account"]["id"] == "a"
    assert client.call("status")["accounts"][0]["state"] == "online"
    assert client.call("status", account="a")["accounts"][0]["id"] == "a"
    update = client.call("update", account="a", cookie=COOKIE + "; x=1")
    assert (update["outcome"], update["version"], update["previous_version"]) == ("applied", 2, 1)
    assert client.call("rollback", account="a", to_version=1)["version"] == 1
    assert client.call("restart", account="a")["outcome"] == "restarted"
    assert client.call("kill", account="a") == {"outcome": "killed"}
    versions = client.call("history", account="a", limit=1)["versions"]
    assert len(versions) == 1
    assert set(versions[0]) == VERSION_FIELDS
    assert client.call("events", account="a", since=0)["events"][0]["kind"] == "added"
    rules = [{"keyword": "价格", "reply": "不议价"}]
    client.call("set_rules", account="a", rules=rules, default_reply={"text": "在的"})
    assert client.call("rules", account="a") == {
        "rules": [{"keyword": "价格", "reply": "不议价", "item_id": None}],
        "default_reply": {"text": "在的", "once_per_chat": True},
    }
    assert client.call("set", account="a", pause_minutes=5)["account"]["pause_minutes"] == 5
    client.call("disable", account="a")
    client.call("enable", account="a")
    client.call("remove", account="a")
    assert client.call("status") == {"accounts": []}


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.call("remove", account="nobody"), "not_found"),
        (lambda c: c.call("add", account="a", cookie="cookie2=x"), "bad_request"),
        (lambda c: c.call("frobnicate"), "unknown_command"),
        (lambda c: c.call("update", account="a", cookie="unb=999"), "conflict"),
        (lambda c: c.call("add", account="a", cookie=COOKIE), "exists"),
    ],
)
def test_supervisor_errors_map_to_codes(client, call, code):
    client.call("add", account="a", cookie=COOKIE) if code in ("conflict", "exists") else None
    with pytest.raises(ControlError) as caught:
        call(client)
    assert caught.value.code == code
    assert client.call("ping")


def test_an_invalid_value_from_below_is_a_bad_request_that_says_what_was_expected(
    client, fake, monkeypatch
):
    def refuse(account_id: str, **_: object) -> None:
        raise InvalidValueError("pause_minutes", "0 (never) or more", value=-3)

    monkeypatch.setattr(fake, "set_account", refuse)
    with pytest.raises(ControlError) as caught:
        client.call("set", account="a", pause_minutes=1)
    assert caught.value.code == "bad_request"
    assert caught.value.message == "pause_minutes must be 0 (never) or more, got -3"


def test_malformed_input_is_answered_and_the_connection_keeps_serving(client):
    for junk in (b"not json\n", b"\xff\xfe\xfd\n", b"[1]\n", b'{"cmd": 1}\n', b"\x00" * 50 + b"\n"):
        client.send_raw(junk)
        assert client.read_response()["error"]["code"] == "bad_request"
    assert client.call("ping")["version"] == "9.9"


def test_several_mebibyte_line_is_too_large_and_the_next_request_is_served(client):
    client.send_raw(b'{"id": 1, "cmd": "ping", "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}\n')
    response = client.read_response()
    assert response["error"]["code"] == "too_large"
    assert client.call("ping")


def test_unexpected_supervisor_failure_is_internal_and_logged_with_traceback(client, fake):
    def broken(account_id=None):
        raise RuntimeError("boom")

    fake.status = broken
    with structlog.testing.capture_logs() as logs, pytest.raises(ControlError) as caught:
        client.call("status")
    assert caught.value.code == "internal"
    assert "RuntimeError" in caught.value.message
    assert any(e["event"] == "control_request_crashed" and e.get("exc_info") for e in logs)
    assert client.call("ping")


def test_error_messages_never_carry_cookie_values(client, fake):
    def leaky(account_id, cookie, **kwargs):
        raise ValueError(f"could not use {cookie}")

    fake.add = leaky
    response = client.request("add", account="a", cookie=COOKIE)
    assert "c2secret" not in str(response)


def test_a_waiting_update_does_not_block_other_clients(server, fake):
    with ControlClient(server.path, timeout=10) as first:
        first.call("add", account="a", cookie=COOKIE)
    fake.block_updates.set()
    results: list[dict] = []

    def slow_update() -> None:
        with ControlClient(server.path, timeout=10) as c:
            results.append(c.call("update", account="a", cookie=COOKIE + "; y=2"))

    worker = threading.Thread(target=slow_update)
    worker.start()
    assert fake.update_entered.wait(timeout=5)
    with ControlClient(server.path, timeout=10) as other:
        assert other.call("status")["accounts"][0]["id"] == "a"
    fake.release.set()
    worker.join(timeout=5)
    assert results[0]["outcome"] == "applied"


def test_thousands_of_dropped_connections_and_many_concurrent_clients(server):
    for _ in range(2000):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(server.path))
        if _ % 3 == 0:
            sock.sendall(b'{"cmd": "pi')  # half a request, then gone
        sock.close()
    answered: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        with ControlClient(server.path, timeout=10) as c:
            for _ in range(20):
                c.call("ping")
                with lock:
                    answered.append(1)

    workers = [threading.Thread(target=hammer) for _ in range(40)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert len(answered) == 40 * 20


def test_peer_with_another_uid_is_refused(short_dir, fake):
    someone_else = frozenset({os.getuid() + 4242})
    srv = ControlServer(
        short_dir / "c.sock", Dispatcher(fake).handle_line, allowed_uids=someone_else
    ).start()
    try:
        with ControlClient(srv.path, timeout=5) as c, pytest.raises(ControlError) as caught:
            c.call("ping")
        assert caught.value.code == "unavailable"
    finally:
        srv.stop()


def test_stale_socket_file_is_replaced(short_dir, fake):
    path = short_dir / "control.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens
    srv = ControlServer(path, Dispatcher(fake).handle_line).start()
    try:
        with ControlClient(path) as c:
            assert c.call("ping")
    finally:
        srv.stop()
    assert not path.exists()


def test_second_server_on_a_live_socket_is_a_conflict(server, fake):
    with pytest.raises(ConflictError, match="already listening"):
        ControlServer(server.path, Dispatcher(fake).handle_line).start()
    with ControlClient(server.path) as c:
        assert c.call("ping")


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_is_kept_out_by_file_mode_and_by_peer_credentials(server, short_dir):
    assert connect_as_nobody(server.path) == "permission denied"
    # open the file permissions wide: SO_PEERCRED must still refuse the peer
    os.chmod(short_dir, 0o755)
    os.chmod(server.path, 0o666)
    assert connect_as_nobody(server.path) == "closed without an answer"
    with ControlClient(server.path) as c:
        assert c.call("ping")


def test_stop_does_not_wait_forever_for_a_request_stuck_in_the_supervisor(short_dir, fake):
    srv = ControlServer(short_dir / "s.sock", Dispatcher(fake).handle_line).start()
    fake.add("a", COOKIE)
    fake.block_updates.set()
    client = ControlClient(srv.path, timeout=10)
    client.send_raw(b'{"cmd": "update", "account": "a", "cookie": "unb=2200000001; z=1"}\n')
    assert fake.update_entered.wait(timeout=5)
    srv.stop(timeout=0.05)  # returns although the worker is still inside update()
    assert not srv.path.exists()
    fake.release.set()
    client.close()
    wait_for(
        lambda: not any(t.name.startswith("control-worker") for t in threading.enumerate()),
        what="the worker to finish",
    )


def test_a_socket_path_too_long_for_unix_sockets_says_what_to_do(short_dir, fake):
    from common.errors import XianyuSupervisorError

    deep = short_dir / ("d" * 120) / "control.sock"
    with pytest.raises(XianyuSupervisorError, match="shorter --data-dir"):
        ControlServer(deep, Dispatcher(fake).handle_line).start()
