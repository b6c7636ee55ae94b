"""The admin HTTP API contract: paths, fields, JSON shapes and 4xx refusals (raw HTTP)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any

import pytest

from common.errors import ConflictError, InvalidValueError, NotFoundError
from simulator.server import Simulator, SimulatorHandle
from tests.plugins.simulator import new_seller


def _call(url: str, body: Any = None, *, method: str | None = None) -> tuple[int, Any]:
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_admin_url_ends_with_slash_and_token_url_is_under_api_url(sim: SimulatorHandle) -> None:
    assert sim.admin_url.endswith("/admin/")
    assert sim.api_url.endswith("/h5/")
    assert sim.ws_url.startswith("ws://127.0.0.1:") and sim.ws_url.endswith("/")


def test_users_creates_a_seller_and_new_sessions(sim: SimulatorHandle) -> None:
    status, created = _call(sim.admin_url + "users", {"nick": "shop"})
    assert status == 200 and set(created) == {"user_id", "cookie"}
    assert f"unb={created['user_id']}" in created["cookie"]
    status, again = _call(sim.admin_url + "users", {"user_id": created["user_id"]})
    assert again["user_id"] == created["user_id"] and again["cookie"] != created["cookie"]
    status, chosen = _call(sim.admin_url + "users", {"user_id": "2200000000001"})
    assert chosen["user_id"] == "2200000000001"


def test_state_shape(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    status, state = _call(sim.admin_url + "state")
    assert status == 200
    counts = state["users"][seller.user_id]
    for name in ("connections", "registered", "tokens_issued", "pushed", "token_calls"):
        assert counts[name] == 0


def test_push_answers_ids_and_keeps_the_chat_stable(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    push = {"to": seller.user_id, "from": "1001", "text": "hi", "item_id": "5"}
    status, first = _call(sim.admin_url + "push", push)
    assert status == 200 and set(first) == {"message_id", "chat_id"}
    assert first["message_id"].endswith(".PNM") and len(first["message_id"]) == 17
    assert first["chat_id"].isdigit()
    _, second = _call(sim.admin_url + "push", push)
    assert second["chat_id"] == first["chat_id"]
    assert second["message_id"] > first["message_id"]
    _, other_item = _call(sim.admin_url + "push", {**push, "item_id": "6"})
    assert other_item["chat_id"] != first["chat_id"]
    state = sim.admin.user_state(seller.user_id)
    assert state["pushed"] == 0 and state["withheld"] == 3  # nobody online: history only


def test_manual_push_from_the_seller_goes_to_the_latest_chat(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    status, refused = _call(
        sim.admin_url + "push", {"to": seller.user_id, "from": seller.user_id, "text": "x"}
    )
    assert status == 409 and "error" in refused
    buyer = sim.admin.push(seller.user_id, "1001", "hi", "5")
    manual = sim.admin.push(seller.user_id, seller.user_id, "by hand")
    assert manual["chat_id"] == buyer["chat_id"]


def test_sent_is_empty_for_a_quiet_seller(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    status, answer = _call(f"{sim.admin_url}sent?user_id={seller.user_id}")
    assert status == 200 and answer == {"messages": []}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("push", {"to": "nobody", "from": "1", "text": "x"}, 404),
        ("push", {"to": "", "from": "1", "text": "x"}, 400),
        ("fault", {"user_id": "nobody", "kind": "close"}, 404),
        ("fault", {"user_id": "SELLER", "kind": "meteor"}, 400),
        ("fault", {"user_id": "SELLER", "kind": "captcha", "seconds": "soon"}, 400),
        ("revoke", {"user_id": "nobody"}, 404),
        ("revoke", {}, 400),
        ("users", b"not json", 400),
        ("users", [1, 2], 400),
    ],
)
def test_bad_admin_calls_answer_4xx_with_error(
    sim: SimulatorHandle, path: str, body: Any, status: int
) -> None:
    seller = new_seller(sim)
    if isinstance(body, dict) and body.get("user_id") == "SELLER":
        body = {**body, "user_id": seller.user_id}
    got, answer = _call(sim.admin_url + path, body, method="POST")
    assert got == status
    assert isinstance(answer["error"], str) and answer["error"]


def test_sent_of_unknown_user_is_404(sim: SimulatorHandle) -> None:
    status, answer = _call(f"{sim.admin_url}sent?user_id=nobody")
    assert status == 404 and "nobody" in answer["error"]


def test_fault_kinds_are_all_accepted(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    for kind in ("close", "drop", "zombie", "token_expired", "captcha", "slow_handshake",
                 "garbage", "blackhole"):  # fmt: skip
        status, answer = _call(
            sim.admin_url + "fault", {"user_id": seller.user_id, "kind": kind, "seconds": 0}
        )
        assert status == 200 and answer["ok"] is True, kind


def test_admin_client_raises_project_errors(sim: SimulatorHandle) -> None:
    with pytest.raises(NotFoundError, match="unknown user"):
        sim.admin.sent("nobody")
    seller = new_seller(sim)
    with pytest.raises(ConflictError, match="unknown fault kind"):
        sim.admin.fault(seller.user_id, "meteor")


def test_admin_client_survives_a_closed_keepalive_connection(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    assert sim.admin._conn is not None
    # the peer sees EOF and closes: the kept-alive connection is dead, as after an idle timeout
    sim.admin._conn.sock.shutdown(socket.SHUT_WR)
    assert sim.admin.sent(seller.user_id) == []


def test_push_many_applies_pushes_in_order(sim: SimulatorHandle) -> None:
    seller = new_seller(sim)
    results = sim.admin.push_many(
        [{"to": seller.user_id, "from": "1001", "text": f"m{i}", "item_id": "5"} for i in range(3)]
    )
    assert len({r["chat_id"] for r in results}) == 1
    assert [r["message_id"] for r in results] == sorted(r["message_id"] for r in results)
    status, answer = _call(
        sim.admin_url + "push_many", {"messages": [{"to": "nobody", "from": "1", "text": "x"}]}
    )
    assert status == 404 and answer["error"].startswith("messages[0]")


def test_an_unknown_knob_is_refused_with_the_known_ones():
    with pytest.raises(InvalidValueError, match="got 'no_such_knob'") as caught:
        Simulator(no_such_knob=1)
    assert caught.value.value == "no_such_knob"
