"""``--metrics HOST:PORT``: parsed, refused with a sentence, a busy port named (issue 12 §3)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from common.errors import InvalidValueError, XianyuSupervisorError
from metrics import parse_address
from service.app import Service
from service.cli import build_parser, main, settings_from_args


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


def test_the_flag_the_environment_and_the_config_file(tmp_path):
    def resolved(argv: list[str], env: dict[str, str]) -> str | None:
        return settings_from_args(build_parser(env).parse_args(argv)).metrics

    plain = ["--data-dir", str(tmp_path)]
    assert resolved(plain, {}) is None
    assert resolved([*plain, "--metrics", "127.0.0.1:9108"], {}) == "127.0.0.1:9108"
    assert resolved(plain, {"XIANYU_METRICS": "127.0.0.1:9200"}) == "127.0.0.1:9200"
    config = tmp_path / "config.toml"
    config.write_text('metrics = "127.0.0.1:9300"\n')
    assert resolved(plain, {}) == "127.0.0.1:9300"
    assert resolved([*plain, "--metrics", "127.0.0.1:9108"], {}) == "127.0.0.1:9108"


@pytest.mark.parametrize("where", ["flag", "environment"])
def test_a_bad_address_stops_the_start_with_one_line(where, tmp_path, capsys):
    argv = ["--data-dir", str(tmp_path)]
    env = {}
    if where == "flag":
        argv += ["--metrics", "9108"]
    else:
        env["XIANYU_METRICS"] = "9108"
    assert main(argv, env=env) == 1
    err = capsys.readouterr().err
    assert "metrics address must be HOST:PORT" in err
    assert err.count("\n") == 1


def test_a_busy_port_fails_the_start_naming_it(start_service: Callable[..., Service]):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            XianyuSupervisorError, match=f"cannot serve metrics on 127.0.0.1:{port}"
        ):
            start_service(metrics=f"127.0.0.1:{port}")
