"""Liveness rules of a connection (actors/liveness.py)."""

from __future__ import annotations

from actors.liveness import Liveness


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
