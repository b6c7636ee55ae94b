"""Abuse of the control socket of a running service (real supervisor, accounts online
against the simulator): every well-formed request still gets its answer, the accounts
keep answering buyers, and only the owner gets in."""

from __future__ import annotations

import json
import os
import random
import socket
import stat
import threading
from typing import Any

import pytest

from control.client import ControlClient
from service.app import Service
from tests.plugins.control import connect_as_nobody
from tests.plugins.faults import Chat, row
from tests.plugins.simulator import Seller

pytestmark = pytest.mark.usefixtures("secrets_guard")

READ_TIMEOUT_S = 10.0
# each is a whole line of valid JSON that is not a valid request
WRONG_REQUESTS: list[dict[str, Any]] = [
    {"id": 1},
    {"cmd": None},
    {"cmd": ["status"]},
    {"cmd": "no_such_command"},
    {"cmd": "status", "args": "shop"},
    {"cmd": "status", "args": {"account": 7}},
    {"cmd": "update", "args": {"account": "shop"}},
    {"cmd": "update", "args": {"cookie": "unb=1; cookie2=abcdefgh"}},
    {"cmd": "update", "args": {"account": "shop", "cookie": ["unb=1"]}},
    {"cmd": "update", "args": {"account": "shop", "cookie": "x=1", "wait": "yes"}},
    {"cmd": "add", "args": {"account": "", "cookie": "unb=1"}},
    {"cmd": "add", "args": {"account": "x" * 500, "cookie": "unb=1"}},
    {"cmd": "history", "args": {"account": "shop", "limit": "ten"}},
    {"cmd": "history", "args": {"account": "shop", "limit": -5}},
    {"cmd": "events", "args": {"limit": 10**12}},
    {"cmd": "events", "args": {"since": "yesterday-ish"}},
    {"cmd": "rollback", "args": {"account": "shop", "to_version": "two"}},
    {"cmd": "set_rules", "args": {"account": "shop", "rules": "reply to everything"}},
    {"cmd": "set_rules", "args": {"account": "shop", "rules": [{"keyword": 1}]}},
    {"cmd": "set", "args": {"account": "shop", "pause_minutes": "soon"}},
    {"cmd": "restart", "args": {"account": {"id": "shop"}}},
]


class RawLines:
    """A plain socket: send any bytes, read response lines."""

    def __init__(self, path: os.PathLike[str]) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(READ_TIMEOUT_S)
        self.sock.connect(os.fspath(path))
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> dict[str, Any]:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "the service closed the connection"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def ping(self) -> dict[str, Any]:
        self.send(b'{"id": "p", "cmd": "ping"}\n')
        return self.response()

    def close(self) -> None:
        self.sock.close()


def assert_still_serving(service: Service, sim, seller: Seller, text: str) -> None:
    with ControlClient(service.socket_path, timeout=READ_TIMEOUT_S) as client:
        assert client.call("ping")["version"]
        assert client.call("status", account="shop")["accounts"][0]["state"] == "online"
    chat = Chat(sim, seller)
    chat.push(text)
    chat.wait_answered()


def test_random_bytes_and_invalid_utf8_get_bad_request_and_the_next_request_its_answer(
    sim, seller, service
):
    rng = random.Random(8)
    junk = [
        b"\xc3\x28\xa0\xa1 not utf-8",
        b"\xff\xfe\xfd\xfc",
        b"\x00" * 64,
        b'{"cmd": "ping", "id": "\xed\xa0\x80"}',  # a UTF-16 surrogate, invalid in UTF-8
        b"[1, 2, 3]",
        b'"status"',
        b'{"cmd": "status"',
        *(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(40)),
    ]
    raw = RawLines(service.socket_path)
    try:
        for blob in junk:
            lines = [part for part in blob.split(b"\n") if part.strip()]
            raw.send(blob + b"\n")
            for _ in lines:
                response = raw.response()
                assert response["ok"] is False
                assert response["error"]["code"] in {"bad_request", "unknown_command"}
            assert raw.ping()["ok"] is True
    finally:
        raw.close()
    assert_still_serving(service, sim, seller, "after random bytes")


def test_several_mebibyte_line_is_refused_and_the_same_connection_keeps_serving(
    sim, seller, service
):
    raw = RawLines(service.socket_path)
    try:
        raw.send(b'{"cmd": "status", "pad": "' + b"\xe4\xb8\xad" * (2 * 1024 * 1024) + b'"}\n')
        assert raw.response()["error"]["code"] == "too_large"
        assert raw.ping()["ok"] is True
    finally:
        raw.close()
    assert_still_serving(service, sim, seller, "after a huge line")


@pytest.mark.parametrize("request_body", WRONG_REQUESTS, ids=lambda r: json.dumps(r)[:60])
def test_wrong_types_and_missing_fields_are_refused_without_touching_the_account(
    sim, seller, service, request_body
):
    raw = RawLines(service.socket_path)
    try:
        raw.send(json.dumps(request_body).encode() + b"\n")
        response = raw.response()
        assert response["ok"] is False
        assert response["error"]["code"] in {"bad_request", "unknown_command"}
        assert response["error"]["message"]
        assert raw.ping()["ok"] is True
    finally:
        raw.close()
    status = row(service.client, "shop")
    assert (status["state"], status["cookie_version"], status["restarts"]) == ("online", 1, 0)
    assert service.client.rules("shop")["default_reply"]["text"] == "auto: {text}"


@pytest.mark.slow
def test_thousands_of_dropped_connections_and_many_concurrent_clients_are_all_served(
    sim, seller, service
):
    path = os.fspath(service.socket_path)
    for n in range(2000):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        if n % 3 == 0:
            sock.sendall(b'{"cmd": "stat')  # half a request, then gone
        elif n % 3 == 1:
            sock.sendall(b'{"cmd": "status"}\n')  # a whole request, gone before the answer
        sock.close()
    answers: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client_session() -> None:
        try:
            with ControlClient(path, timeout=30) as client:
                for _ in range(10):
                    state = client.call("status", account="shop")["accounts"][0]["state"]
                    with lock:
                        answers.append(state)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the count
            with lock:
                errors.append(exc)

    workers = [threading.Thread(target=client_session) for _ in range(40)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert answers == ["online"] * 400
    assert_still_serving(service, sim, seller, "after the crowd")


def test_socket_file_is_owner_only(service):
    assert stat.S_IMODE(os.stat(service.socket_path).st_mode) == 0o600


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user (nobody)")
def test_another_user_is_refused_by_the_running_service(sim, seller, service):
    assert connect_as_nobody(service.socket_path) == "permission denied"
    # even with the file opened wide, the peer's uid is checked on every connection
    for directory in (service.socket_path.parent, service.socket_path.parent.parent):
        os.chmod(directory, 0o755)
    os.chmod(service.socket_path, 0o666)
    assert connect_as_nobody(service.socket_path) == "closed without an answer"
    assert_still_serving(service, sim, seller, "after the stranger")
