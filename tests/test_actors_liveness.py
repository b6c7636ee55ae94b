"""Liveness rules of a connection (actors/liveness.py)."""

from __future__ import annotations

from actors.liveness import Liveness, ZombieProbe


def _liveness() -> Liveness:
    live = Liveness(heartbeat_s=1.0, heartbeat_misses=2, silence_intervals=3)
    live.started(0.0)
    return live


def test_answered_heartbeats_keep_it_alive() -> None:
    live = _liveness()
    for second in range(10):
        live.heartbeat_sent(float(second))
        live.heartbeat_answered(second + 0.1)
        assert live.verdict(second + 0.5) is None


def test_missing_heartbeat_replies_for_n_intervals_is_dead() -> None:
    live = _liveness()
    live.heartbeat_sent(0.0)
    live.frame_received(1.0)  # pushes still flow, but the heartbeat is unanswered
    live.heartbeat_sent(1.0)
    assert live.verdict(1.9) is None
    assert "heartbeat" in (live.verdict(2.0) or "")


def test_silence_for_n_intervals_is_dead() -> None:
    live = _liveness()
    assert live.verdict(2.9) is None
    assert "no frame" in (live.verdict(3.0) or "")


# --- the zombie probe -------------------------------------------------------------------


def _probe_answer(*modified_ms: int, code: int = 200) -> dict:
    convs = [
        {
            "type": 1,
            "singleChatUserConversation": {
                "singleChatConversation": {"cid": f"{n}@goofish", "bizType": "1", "extension": {}},
                "modifyTime": at,
            },
        }
        for n, at in enumerate(modified_ms, start=1)
    ]
    return {"code": code, "body": {"hasMore": 0, "nextCursor": 0, "userConvs": convs}}


def _probe(seen_ms: int = 1_000) -> ZombieProbe:
    probe = ZombieProbe()
    probe.saw(seen_ms)
    return probe


def test_a_probe_that_finds_nothing_newer_is_quiet() -> None:
    probe = _probe()
    for _ in range(5):
        assert probe.answered(_probe_answer(1_000)) is None
    assert probe.answered(_probe_answer()) is None  # no conversation at all


def test_a_conversation_newer_than_any_push_seen_twice_is_a_zombie() -> None:
    probe = _probe()
    assert probe.answered(_probe_answer(2_000)) is None  # the push may be on its way
    assert "zombie" in (probe.answered(_probe_answer(2_000)) or "")


def test_the_push_arriving_between_two_probes_clears_the_suspicion() -> None:
    probe = _probe()
    assert probe.answered(_probe_answer(2_000)) is None
    probe.saw(2_000)  # the push (or a backfill) brought that message
    assert probe.answered(_probe_answer(2_000)) is None
    assert probe.suspect_ms is None


def test_a_conversation_that_keeps_moving_is_only_suspect() -> None:
    probe = _probe()
    assert probe.answered(_probe_answer(2_000)) is None
    assert probe.answered(_probe_answer(3_000)) is None
    assert "zombie" in (probe.answered(_probe_answer(3_000)) or "")


def test_seen_never_moves_back() -> None:
    probe = _probe(5_000)
    probe.saw(1_000)
    assert probe.newest_seen_ms == 5_000


def test_flow_control_keeps_the_suspicion_as_it_was() -> None:
    probe = _probe()
    flow_controlled = {"code": 200, "body": {"code": "400600001", "message": "flow control"}}
    assert probe.answered(_probe_answer(2_000)) is None
    assert probe.answered(flow_controlled) is None
    assert "zombie" in (probe.answered(_probe_answer(2_000)) or "")


def test_a_refused_or_unreadable_probe_ends_the_session() -> None:
    assert "code 500" in (_probe().answered({"code": 500}) or "")
    assert "unreadable" in (_probe().answered({"code": 200, "body": {"userConvs": "none"}}) or "")
