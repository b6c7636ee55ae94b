"""``python run.py serve`` options: flags over environment over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.settings import DEFAULT_API_URL, DEFAULT_WS_URL
from service.cli import build_parser, settings_from_args


def settings(argv: list[str], env: dict[str, str]):
    return settings_from_args(build_parser(env).parse_args(argv))


def test_defaults_are_the_real_endpoints_and_a_local_data_dir():
    s = settings([], {})
    assert (s.data_dir, s.ws_url, s.api_url, s.log_format) == (
        Path("data"),
        DEFAULT_WS_URL,
        DEFAULT_API_URL,
        "auto",
    )
    assert s.effective_database_url == f"sqlite:///{Path('data/xianyu.db').resolve()}"
    assert s.socket_path == Path("data/control.sock")


def test_environment_sets_every_option():
    env = {
        "XIANYU_DATA_DIR": "/srv/x",
        "XIANYU_DATABASE_URL": "postgresql://db/x",
        "XIANYU_WS_URL": "ws://127.0.0.1:1/",
        "XIANYU_API_URL": "http://127.0.0.1:1/h5/",
        "XIANYU_LOG_FORMAT": "json",
    }
    s = settings([], env)
    assert (s.data_dir, s.database_url, s.ws_url, s.api_url, s.log_format) == (
        Path("/srv/x"),
        "postgresql://db/x",
        "ws://127.0.0.1:1/",
        "http://127.0.0.1:1/h5/",
        "json",
    )


def test_flags_win_over_the_environment():
    env = {"XIANYU_DATA_DIR": "/srv/x", "XIANYU_WS_URL": "ws://env/", "XIANYU_LOG_FORMAT": "json"}
    s = settings(["--data-dir", "/tmp/d", "--ws-url", "ws://flag/", "--log-format", "console"], env)
    assert (s.data_dir, s.ws_url, s.log_format) == (Path("/tmp/d"), "ws://flag/", "console")


def test_unknown_log_format_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        settings(["--log-format", "xml"], {})
    assert "invalid choice" in capsys.readouterr().err


def test_the_service_has_no_benchmark_strategy_option(capsys):
    # the naive strategy is the bench's (bench/harness/serve_naive.py), not the service's
    with pytest.raises(SystemExit) as exit_:
        build_parser({}).parse_args(["--swap-strategy", "naive"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --swap-strategy" in capsys.readouterr().err
    assert not hasattr(settings([], {"XIANYU_SWAP_STRATEGY": "naive"}), "swap_strategy")


def test_passport_url_defaults_to_the_real_login_host_then_env_then_flag():
    from common.settings import DEFAULT_PASSPORT_URL

    assert DEFAULT_PASSPORT_URL == "https://passport.goofish.com/"
    assert settings([], {}).passport_url == DEFAULT_PASSPORT_URL
    env = {"XIANYU_PASSPORT_URL": "http://127.0.0.1:1/passport/"}
    assert settings([], env).passport_url == "http://127.0.0.1:1/passport/"
    assert settings(["--passport-url", "http://flag/"], env).passport_url == "http://flag/"
