"""``--metrics HOST:PORT``: parsed, refused with a sentence, a busy port named (issue 12 §3)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from common.errors import InvalidValueError, XianyuSupervisorError
from metrics import parse_address
from service.app import Service
from service.cli import build_parser, settings_from_args


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("localhost:0", ("localhost", 0)),
        ("[::1]:9108", ("::1", 9108)),
        (" 0.0.0.0:80 ", ("0.0.0.0", 80)),
    ],
)
def test_an_address_is_host_and_port(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["9108", ":9108", "127.0.0.1:", "host:port", "h:65536", "h:-1"])
def test_anything_else_is_refused_saying_what_is_expected(text):
    with pytest.raises(InvalidValueError, match=r"metrics address must be HOST:PORT, e\.g\."):
        parse_address(text)


def test_the_serve_flag_and_its_environment_variable():
    parser = build_parser({})
    assert settings_from_args(parser.parse_args([])).metrics is None
    chosen = parser.parse_args(["--metrics", "127.0.0.1:9108"])
    assert settings_from_args(chosen).metrics == "127.0.0.1:9108"
    from_env = build_parser({"XIANYU_METRICS": "127.0.0.1:9200"}).parse_args([])
    assert settings_from_args(from_env).metrics == "127.0.0.1:9200"


def test_a_bad_flag_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser({}).parse_args(["--metrics", "9108"])
    assert exit_.value.code == 2
    assert "metrics address must be HOST:PORT" in capsys.readouterr().err


def test_a_busy_port_fails_the_start_naming_it(start_service: Callable[..., Service]):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            XianyuSupervisorError, match=f"cannot serve metrics on 127.0.0.1:{port}"
        ):
            start_service(metrics=f"127.0.0.1:{port}")
