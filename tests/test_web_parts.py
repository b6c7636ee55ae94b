"""The web page's parts without a server: the address setting, languages, the login token
file and its CLI, the gate's sessions and CSRF tokens, the dispatcher called with dicts,
and the serve CLI's rule for non-loopback addresses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from common.errors import InvalidValueError, XianyuSupervisorError
from control.dispatch import Dispatcher
from control.protocol import request_line
from service.cli import build_parser, settings_from_args
from tests.plugins.control import FakeSupervisor
from web import cli as web_cli
from web.address import WebAddress, parse_web
from web.auth import Gate, read_token, rotate_token
from web.i18n import TEXTS, choose_language, translator
from web.views import TEMPLATES, moment


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:8780", WebAddress("127.0.0.1", 8780)),
        (" localhost:1 ", WebAddress("localhost", 1)),
        ("[::1]:8780", WebAddress("::1", 8780)),
        ("0.0.0.0:80", WebAddress("0.0.0.0", 80)),
        ("off", None),
        ("OFF", None),
    ],
)
def test_web_addresses(text: str, address: WebAddress | None) -> None:
    assert parse_web(text) == address


@pytest.mark.parametrize("text", ["", "8780", "127.0.0.1", "127.0.0.1:http", ":80", "h:70000"])
def test_a_bad_web_address_says_what_is_expected(text: str) -> None:
    with pytest.raises(InvalidValueError, match=r"web must be HOST:PORT .* or 'off'"):
        parse_web(text)


def test_loopback_and_urls() -> None:
    assert WebAddress("127.0.0.1", 1).loopback
    assert WebAddress("::1", 1).loopback
    assert WebAddress("localhost", 1).loopback
    assert not WebAddress("0.0.0.0", 1).loopback
    assert not WebAddress("shop.example", 1).loopback
    assert WebAddress("::1", 8780).url("/x") == "http://[::1]:8780/x"


@pytest.mark.parametrize(
    ("accept", "chosen", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", None, "zh"),
        ("en-US,en;q=0.9", None, "en"),
        ("fr-FR, zh;q=0.5", None, "zh"),
        ("en;q=0.1, zh-TW;q=0.8", None, "zh"),
        ("fr", None, "en"),
        (None, None, "en"),
        ("zh;q=0", None, "en"),
        ("zh-CN", "en", "en"),
        ("en", "zh", "zh"),
        ("en", "klingon", "en"),
    ],
)
def test_the_language(accept: str | None, chosen: str | None, lang: str) -> None:
    assert choose_language(accept, chosen) == lang


def test_every_text_exists_in_both_languages_and_every_key_used_exists() -> None:
    for key, (english, chinese) in TEXTS.items():
        assert english.strip() and chinese.strip(), key
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""t\(['"]([a-z_]+(?:\.[a-z_]+)+)['"][,)]""", template.read_text()))
    assert used, "the templates use t('...')"
    assert used - set(TEXTS) == set()
    zh = translator("zh")
    assert zh("rules.preview_rule", n=2, keyword="价格") == "规则 2（关键词“价格”）回复："


def test_moment_is_utc_as_the_cli_shows_it() -> None:
    assert moment("2026-12-01T22:00:00.5+08:00") == "2026-12-01 14:00:00"
    assert moment(0) == "1970-01-01 00:00:00"
    assert moment(None) == "-"


def test_the_token_file_is_private_and_survives(tmp_path: Path) -> None:
    path = tmp_path / "data" / "web-token"
    token = read_token(path)
    assert len(token) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_token(path) == token
    rotated = rotate_token(path)
    assert rotated != token
    assert read_token(path) == rotated
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["web-token"], "no temp file left"


def test_sessions_and_csrf_tokens(tmp_path: Path) -> None:
    gate = Gate(tmp_path / "web-token")
    assert gate.token_ok(gate.token)
    assert not gate.token_ok("nope")
    session = gate.new_session()
    sid = gate.session_id(session)
    assert sid is not None
    for forged in (None, "", "abc", f"{sid}.0000", f"other.{session.split('.')[1]}"):
        assert gate.session_id(forged) is None
    csrf = gate.csrf_token(sid)
    assert gate.csrf_ok(sid, csrf)
    assert not gate.csrf_ok(sid, None)
    assert not gate.csrf_ok(sid, "")
    assert not gate.csrf_ok("another", csrf)
    # a new Gate (a restarted service) accepts the session; a rotation ends it
    assert Gate(tmp_path / "web-token").session_id(session) == sid
    rotate_token(tmp_path / "web-token")
    assert gate.session_id(session) is None


def test_the_web_token_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"XIANYU_DATA_DIR": str(tmp_path)}
    assert web_cli.main([], env=env) == 0
    first = capsys.readouterr().out.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8780/\?token=[\w-]+", first)
    assert web_cli.main(["--web", "[::1]:9000"], env=env) == 0
    assert capsys.readouterr().out.strip().endswith(first.split("token=")[1])
    assert web_cli.main(["--rotate"], env=env) == 0
    out = capsys.readouterr().out
    assert "must log in again" in out
    assert first.split("token=")[1] not in out
    assert web_cli.main(["--web", "nonsense"], env=env) == 1
    assert "web must be HOST:PORT" in capsys.readouterr().err


def test_the_dispatcher_with_dicts_answers_as_with_lines() -> None:
    dispatcher = Dispatcher(FakeSupervisor())
    for cmd, args in (
        ("status", {}),
        ("nope", {}),
        ("update", {"account": "x"}),
        ("remove", {"account": "x"}),
        ("events", {"limit": 0}),
    ):
        line = dispatcher.handle_line(request_line(None, cmd, args))
        expected = json.loads(line)
        expected.pop("id")
        assert dispatcher.call(cmd, args) == expected
    assert dispatcher.call("nope", {})["error"]["code"] == "unknown_command"
    assert dispatcher.knows("update") and dispatcher.knows("ping")
    assert dispatcher.knows("rules_preview") and dispatcher.knows("account")
    assert not dispatcher.knows("freeze")


def test_a_non_loopback_page_must_be_given_on_the_command_line(tmp_path: Path) -> None:
    def setting(argv: list[str], env: dict[str, str]) -> str:
        args = build_parser({"XIANYU_DATA_DIR": str(tmp_path), **env}).parse_args(argv)
        return settings_from_args(args).web

    assert setting([], {}) == "127.0.0.1:8780"
    assert setting([], {"XIANYU_WEB": "127.0.0.1:9"}) == "127.0.0.1:9"
    assert setting([], {"XIANYU_WEB": "off"}) == "off"
    assert setting(["--web", "0.0.0.0:8780"], {}) == "0.0.0.0:8780"
    assert setting(["--web", "off"], {"XIANYU_WEB": "0.0.0.0:1"}) == "off"
    with pytest.raises(XianyuSupervisorError, match=r"give --web 0\.0\.0\.0:1 on the command line"):
        setting([], {"XIANYU_WEB": "0.0.0.0:1"})
    (tmp_path / "config.toml").write_text('web = "0.0.0.0:2"\n')
    with pytest.raises(XianyuSupervisorError, match=r"from XIANYU_WEB or .*config.toml"):
        setting([], {})
    assert setting(["--web", "0.0.0.0:2"], {}) == "0.0.0.0:2"
    (tmp_path / "config.toml").write_text('web = "127.0.0.1:3"\n')
    assert setting([], {}) == "127.0.0.1:3"
    with pytest.raises(XianyuSupervisorError, match="web must be HOST:PORT"):
        setting(["--web", "nonsense"], {})
