"""``python run.py ctl``: the CLI against a real control socket served over a fake supervisor."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import run
from control.cli import main
from control.dispatch import Dispatcher
from control.server import ControlServer
from tests.plugins.control import FakeSupervisor

COOKIE = "unb=2200000001; cookie2=c2secret; _m_h5_tk=tk123_1700000000000; sgcookie=sgsecret"
SECRETS = ("c2secret", "tk123", "sgsecret")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def fake() -> FakeSupervisor:
    return FakeSupervisor()


@pytest.fixture
def server(short_dir: Path, fake: FakeSupervisor) -> Iterator[ControlServer]:
    srv = ControlServer(short_dir / "control.sock", Dispatcher(fake, version="1.2.3").handle_line)
    yield srv.start()
    srv.stop()


class Ctl:
    """Runs the CLI in-process with its own stdin/stdout/stderr, pointed at the test service."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.out = ""
        self.err = ""

    def __call__(self, *argv: str, stdin: str | None = None) -> int:
        stdout, stderr = io.StringIO(), io.StringIO()
        source = Tty() if stdin is None else io.StringIO(stdin)
        env = {"XIANYU_DATA_DIR": str(self.data_dir)}
        code = main(list(argv), stdin=source, stdout=stdout, stderr=stderr, env=env)
        self.out, self.err = stdout.getvalue(), stderr.getvalue()
        for secret in SECRETS:
            assert secret not in self.out + self.err
        return code


@pytest.fixture
def ctl(server: ControlServer, short_dir: Path) -> Ctl:
    return Ctl(short_dir)


@pytest.fixture
def cookie_file(short_dir: Path) -> Path:
    path = short_dir / "cookie.txt"
    path.write_text(f"Cookie: {COOKIE}\n")
    return path


def test_ping_finds_the_socket_through_the_data_dir_environment(ctl):
    assert ctl("ping") == 0
    assert "service 1.2.3 up" in ctl.out


def test_add_reads_the_cookie_file_and_status_prints_a_table(ctl, fake, cookie_file):
    assert ctl("add", "shop", "--cookie-file", str(cookie_file), "--remark", "main") == 0
    assert fake.cookies["shop"] == [COOKIE]
    assert ctl("status") == 0
    header, line, footnote = ctl.out.splitlines()
    assert "lifetime" in footnote
    assert header.split()[:3] == ["ACCOUNT", "USER", "STATE"]
    assert line.split()[:4] == ["shop", "2200000001", "online", "yes"]


def test_add_reads_the_cookie_from_stdin(ctl, fake):
    assert ctl("add", "shop", "--cookie-file", "-", stdin=COOKIE + "\n") == 0
    assert ctl("update", "shop", stdin=COOKIE + "; x=1") == 0  # piped without --cookie-file
    assert fake.cookies["shop"][-1] == COOKIE + "; x=1"
    assert ctl.out.startswith("applied version 2 (previous 1) swap 12.5 ms")


def test_a_cookie_on_the_command_line_is_refused_without_echoing_it(ctl, fake):
    assert ctl("add", "shop", "--cookie", COOKIE) == 1
    assert "never taken on the command line" in ctl.err
    assert ctl("add", "shop", COOKIE) == 1
    assert fake.accounts == {}


def test_missing_cookie_on_a_terminal_says_how_to_give_one(ctl):
    assert ctl("add", "shop") == 1
    assert "--cookie-file" in ctl.err


def test_json_option_prints_the_raw_result_before_or_after_the_command(ctl, cookie_file):
    ctl("add", "shop", "--cookie-file", str(cookie_file))
    assert ctl("--json", "status") == 0
    assert json.loads(ctl.out)["accounts"][0]["id"] == "shop"
    assert ctl("status", "shop", "--json") == 0
    assert json.loads(ctl.out)["accounts"][0]["state"] == "online"


def test_errors_exit_one_with_the_message_on_stderr(ctl):
    assert ctl("remove", "nobody") == 1
    assert "not_found" in ctl.err
    assert "nobody" in ctl.err
    assert ctl.out == ""


def test_usage_errors_exit_one(ctl):
    assert ctl("frobnicate") == 1
    assert "invalid choice" in ctl.err
    assert ctl("history") == 1


def test_help_exits_zero(ctl, capsys):
    assert main(["--help"]) == 0
    assert "set-rules" in capsys.readouterr().out


def test_unreachable_service_exits_one(short_dir):
    stderr = io.StringIO()
    code = main(["--socket", str(short_dir / "nope.sock"), "status"], stderr=stderr, env={})
    assert code == 1
    assert "no service is listening" in stderr.getvalue()


def test_set_rules_from_a_file_then_rules_table(ctl, cookie_file, short_dir):
    ctl("add", "shop", "--cookie-file", str(cookie_file))
    rules = short_dir / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "rules": [{"keyword": "价格", "reply": "不议价", "item_id": "77"}],
                "default_reply": {"text": "在的"},
            }
        )
    )
    assert ctl("set-rules", "shop", "--file", str(rules)) == 0
    assert ctl("rules", "shop") == 0
    assert "价格" in ctl.out
    assert "77" in ctl.out
    assert "default reply (once per chat): 在的" in ctl.out


def test_history_events_set_rollback_restart_kill(ctl, cookie_file, fake):
    ctl("add", "shop", "--cookie-file", str(cookie_file))
    ctl("update", "shop", stdin=COOKIE + "; y=1")
    assert ctl("history", "shop", "--limit", "5") == 0
    assert ctl.out.splitlines()[0].split()[:2] == ["VERSION", "STATUS"]
    assert len(ctl.out.splitlines()) == 3
    assert ctl("events", "shop", "--since", "0") == 0
    assert "added" in ctl.out
    assert fake.calls[-1] == ("events", ("shop",), {"limit": 100, "since": 0.0})
    assert ctl("set", "shop", "--pause-minutes", "4") == 0
    assert "pause_minutes: 4" in ctl.out
    assert ctl("rollback", "shop", "--to", "1") == 0
    assert ctl.out.startswith("applied version 1")
    assert ctl("restart", "shop") == 0
    assert ctl.out.startswith("restarted stop 3.2 ms")
    assert ctl("kill", "shop") == 0
    assert ctl.out.strip() == "killed"


def test_update_flags_reach_the_request(ctl, cookie_file, fake):
    ctl("add", "shop", "--cookie-file", str(cookie_file))
    other = "unb=999; cookie2=c2secret"
    assert ctl("update", "shop", "--no-save", "--force", "--no-wait", stdin=other) == 0
    assert fake.calls[-1] == ("update", ("shop",), {"save": False, "force": True, "wait": False})


def test_run_py_dispatches_ctl(ctl, capsys, monkeypatch, short_dir):
    monkeypatch.setenv("XIANYU_DATA_DIR", str(short_dir))
    assert run.main(["ctl", "ping"]) == 0
    assert "service 1.2.3" in capsys.readouterr().out


def test_tables_stay_aligned_around_chinese_text():
    from control.render import display_width, table

    text = table(["KEYWORD", "REPLY"], [["价格", "这件 ¥88"], ["price", "88"]])
    header, first, second = text.splitlines()
    # the reply column starts at the same terminal column on every line
    starts = {
        display_width(line[: line.index(value)])
        for line, value in [(header, "REPLY"), (first, "这件"), (second, "88")]
    }
    assert len(starts) == 1


def test_set_rules_clear_and_the_empty_file_refusal(ctl, cookie_file, short_dir):
    ctl("add", "shop", "--cookie-file", str(cookie_file))
    empty = short_dir / "empty.json"
    empty.write_text("[]")
    assert ctl("set-rules", "shop", "--file", str(empty)) == 1
    assert "--clear" in ctl.err
    assert ctl("set-rules", "shop", "--clear") == 0
    assert ctl.out.startswith("cleared")
    rules = short_dir / "rules.json"
    rules.write_text(json.dumps([{"keyword": "x", "reply": ""}, {"keyword": "y", "reply": "z"}]))
    assert ctl("set-rules", "shop", "--file", str(rules)) == 0
    assert ctl.out.startswith("stored 2 keyword rules and no default reply")


def test_ctl_runs_on_a_python_without_the_service_packages(server, short_dir):
    # -S: no site-packages (no structlog, pykka, peewee ...), like a bare system python
    done = subprocess.run(
        [sys.executable, "-S", "run.py", "ctl", "--data-dir", str(short_dir), "ping"],
        cwd=Path(run.__file__).parent,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("service 1.2.3 up")


def test_exit_codes_rolled_back_is_2_and_applied_is_0():
    from control.cli import exit_code

    assert exit_code("update", {"outcome": "rolled_back"}) == 2
    assert exit_code("rollback", {"outcome": "rolled_back"}) == 2
    for outcome in ("applied", "unchanged", "stored", "accepted"):
        assert exit_code("update", {"outcome": outcome}) == 0
    assert exit_code("add", {"outcome": "added", "state": "online"}) == 0
    assert exit_code("add", {"outcome": "added", "state": "needs_cookie"}) == 2


def test_add_waits_and_says_when_the_cookie_is_dead(ctl, cookie_file, fake, monkeypatch):
    real_add = fake.add

    def add_dead(account_id, cookie, **kw):
        result = real_add(account_id, cookie, **kw)
        fake.accounts[account_id].update(state="needs_cookie", last_error="login session expired")
        return result

    monkeypatch.setattr(fake, "add", add_dead)
    assert ctl("add", "shop", "--cookie-file", str(cookie_file)) == 2
    assert ctl.out.startswith("added shop, but it is needs_cookie: login session expired")
    assert "ctl update shop" in ctl.out


def test_add_of_a_good_cookie_says_online(ctl, cookie_file):
    assert ctl("add", "shop", "--cookie-file", str(cookie_file)) == 0
    assert ctl.out.strip() == "added shop: online"
    assert ctl("add", "shop2", "--cookie-file", str(cookie_file), "--disabled") == 0


def test_help_lists_each_command_once(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    names = ("ping", "status", "add", "remove", "enable", "update", "restart", "kill", "renew")
    names += ("rollback", "history", "events", "rules", "set-rules", "set", "pauses", "unpause")
    for name in (*names, "notify-test", "login"):
        listed = [line for line in out.splitlines() if line.startswith(f"  {name} ")]
        assert len(listed) == 1, (name, listed)
    assert "set_rules" not in out
    assert "{" not in out.split("commands:")[0]  # no argparse choice list


def test_a_cookie_over_the_limit_gets_one_message_whatever_its_size(ctl, short_dir):
    from control.arguments import MAX_COOKIE

    messages = set()
    for size in (MAX_COOKIE + 1, 900_000, 3_000_000):
        path = short_dir / f"big{size}"
        path.write_text("unb=1; cookie2=" + "x" * size)
        assert ctl("add", "shop", "--cookie-file", str(path)) == 1
        messages.add(ctl.err.split(" is ")[0] + ctl.err.split("characters long")[1])
    assert len(messages) == 1
    assert "at most 65536" in ctl.err


def test_a_cookie_with_only_unb_is_incomplete(ctl, short_dir):
    path = short_dir / "unb-only"
    path.write_text("unb=2200000001")
    assert ctl("add", "shop", "--cookie-file", str(path)) == 1
    assert "incomplete" in ctl.err


def test_set_with_no_fields_is_a_bad_request(ctl, cookie_file):
    ctl("add", "shop", "--cookie-file", str(cookie_file))
    assert ctl("set", "shop") == 1
    assert "bad_request" in ctl.err and "remark" in ctl.err


def test_pauses_are_listed_and_lifted(ctl, cookie_file):
    ctl("add", "shop", "--cookie-file", str(cookie_file))
    assert ctl("pauses", "shop") == 0
    assert ctl.out.splitlines()[0].split() == ["CHAT", "PAUSED", "UNTIL", "(UTC)"]
    assert ctl("unpause", "shop", "c1") == 0
    assert ctl.out.startswith("chat c1 unpaused")
    assert ctl("unpause", "shop", "c2") == 0
    assert "was not paused" in ctl.out


def test_a_cookie_typed_on_a_terminal_gets_a_prompt(capsys):
    from control.cli import read_cookie

    class TtyIn(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert read_cookie("-", TtyIn(COOKIE)) == COOKIE
    assert "paste the Cookie header" in capsys.readouterr().err


def test_status_times_say_utc(ctl, cookie_file):
    ctl("add", "shop", "--cookie-file", str(cookie_file))
    assert ctl("status") == 0
    assert "ONLINE SINCE (UTC)" in ctl.out


def test_the_empty_status_hint_names_the_data_dir_given(ctl, short_dir):
    assert ctl("status", "--data-dir", str(short_dir)) == 0
    assert f"ctl --data-dir {short_dir} add <account-id>" in ctl.out
