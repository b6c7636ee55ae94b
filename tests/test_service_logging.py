"""Logging configuration: one chain for structlog and stdlib, JSON or console, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from service.logging import configure_logging, reset_logging, resolve_format

COOKIE = "unb=2200000001; cookie2=c2secret; _m_h5_tk=tk123_1700000000000; sgcookie=sgsecret"
SECRETS = ("c2secret", "tk123", "sgsecret")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    reset_logging()


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_event_level_logger_and_fields(stream):
    assert configure_logging("json", stream=stream) == "json"
    structlog.get_logger("actors.account").info("session_registered", account="shop-7", ms=12)
    (line,) = _lines(stream)
    assert line["event"] == "session_registered"
    assert line["level"] == "info"
    assert line["logger"] == "actors.account"
    assert line["account"] == "shop-7"
    assert "timestamp" in line


def test_stdlib_records_are_routed_through_the_same_chain(stream):
    configure_logging("json", stream=stream)
    logging.getLogger("pykka").warning("actor %s died", "account-a")
    (line,) = _lines(stream)
    assert (line["event"], line["logger"], line["level"]) == (
        "actor account-a died",
        "pykka",
        "warning",
    )


def test_cookie_values_never_reach_the_output(stream):
    configure_logging("json", stream=stream)
    log = structlog.get_logger("t")
    log.info("field", cookie=COOKIE)
    log.info("text", note=f"header was {COOKIE}")
    log.info(f"event with {COOKIE}")
    logging.getLogger("lib").info("stdlib %s", COOKIE)
    try:
        raise ValueError(f"bad cookie {COOKIE}")
    except ValueError:
        log.exception("crashed")
    output = stream.getvalue()
    assert len(output.splitlines()) == 5
    for secret in SECRETS:
        assert secret not in output
    assert "cookie2=<redacted>" in output


def test_fingerprints_and_versions_are_not_redacted(stream):
    configure_logging("json", stream=stream)
    structlog.get_logger("t").info(
        "update_applied", cookie_fingerprint="ab12cd34", cookie_version=3
    )
    (line,) = _lines(stream)
    assert (line["cookie_fingerprint"], line["cookie_version"]) == ("ab12cd34", 3)


def test_console_format_renders_one_readable_line(stream):
    configure_logging("console", stream=stream)
    structlog.get_logger("t").info("connected", account="a", cookie=COOKIE)
    output = stream.getvalue()
    assert "connected" in output
    assert "account=a" in output
    assert "c2secret" not in output


def test_configuring_twice_does_not_duplicate_lines(stream):
    configure_logging("json", stream=stream)
    configure_logging("json", stream=stream)
    structlog.get_logger("t").info("once")
    assert len(stream.getvalue().splitlines()) == 1


def test_auto_is_json_when_not_a_tty(monkeypatch):
    monkeypatch.delenv("XIANYU_LOG_FORMAT", raising=False)
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format(None, io.StringIO()) == "json"


def test_environment_chooses_the_format_when_no_flag_is_given(monkeypatch):
    monkeypatch.setenv("XIANYU_LOG_FORMAT", "console")
    assert resolve_format(None, io.StringIO()) == "console"
    assert resolve_format("json", io.StringIO()) == "json"


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="auto, console, json"):
        resolve_format("xml", io.StringIO())


def test_unconfigured_logging_never_prints_to_stdout(capfd):
    import threading

    reset_logging()
    logger = structlog.get_logger("leak-check")
    worker = threading.Thread(target=lambda: logger.warning("child_crashed", account="a"))
    worker.start()
    worker.join()
    out, _err = capfd.readouterr()
    assert "child_crashed" not in out
