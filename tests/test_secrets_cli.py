"""Every ``ctl`` command against a running service, successes and errors alike, with and
without ``--json``: no cookie value of any session ever appears in what it prints (nor in
the service's logs, which the ``secrets_guard`` checks)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from control.cli import main as ctl_main
from tests.plugins.simulator import new_seller

pytestmark = pytest.mark.usefixtures("secrets_guard")


def test_no_ctl_output_carries_a_cookie_value(
    sim, seller, service, secrets_guard, capsys, monkeypatch, short_dir: Path
):
    env = {"XIANYU_DATA_DIR": str(service.settings.data_dir)}

    def cookie_file(name: str, cookie: str) -> str:
        path = short_dir / name
        path.write_text(cookie)
        return str(path)

    fresh = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    revoked = sim.admin.create_user(user_id=seller.user_id)["cookie"]
    sim.admin.revoke(cookie=revoked)
    other = new_seller(sim, nick="other")
    sim.admin.fault(seller.user_id, "token_expired")
    rules = short_dir / "rules.json"
    rules.write_text(json.dumps({"rules": [{"keyword": "价格", "reply": "不议价"}]}))
    no_unb = ";".join(p for p in fresh.split(";") if not p.strip().startswith("unb="))

    commands: list[tuple[list[str], int]] = [
        (["ping"], 0),
        (["add", "shop2", "--cookie-file", cookie_file("other", other.cookie)], 0),
        (["add", "shop2", "--cookie-file", cookie_file("again", other.cookie)], 1),
        (["add", "nounb", "--cookie-file", cookie_file("nounb", no_unb)], 1),
        (["add", "inline", fresh], 1),  # a cookie on the command line is refused
        (["update", "shop", "--cookie-file", cookie_file("fresh", fresh)], 0),
        (["update", "shop", "--cookie-file", cookie_file("fresh2", fresh)], 0),  # unchanged
        (["update", "shop", "--cookie-file", cookie_file("revoked", revoked)], 2),  # rolled back
        (["update", "shop", "--cookie-file", cookie_file("wrong", other.cookie)], 1),
        (["update", "shop", "--cookie-file", cookie_file("junk", "unb=1; cookie2=")], 1),
        (["update", "nobody", "--cookie-file", cookie_file("nobody", fresh)], 1),
        (["status"], 0),
        (["status", "shop"], 0),
        (["history", "shop"], 0),
        (["events"], 0),
        (["events", "shop", "--limit", "5"], 0),
        (["rules", "shop"], 0),
        (["set-rules", "shop", "--file", str(rules)], 0),
        (["set", "shop", "--remark", "main", "--pause-minutes", "4"], 0),
        (["rollback", "shop"], 0),
        (["rollback", "shop", "--to", "99"], 1),
        (["restart", "shop"], 0),
        (["kill", "shop"], 0),
        (["disable", "shop2"], 0),
        (["enable", "shop2"], 0),
        (["remove", "shop2"], 0),
        (["status", "shop2"], 1),
    ]
    outputs = []
    for n, (argv, expected) in enumerate(commands):
        # every other command asks for the raw result
        full = [*argv, "--json"] if n % 2 else argv
        code = ctl_main(full, env=env)
        out, err = capsys.readouterr()
        outputs.append(out + err)
        secrets_guard.add_text(f"ctl {' '.join(full)}", out + err)
        assert code == expected, (full, out, err)
    # the cookie from standard input, the way the help suggests
    monkeypatch.setattr("sys.stdin", io.StringIO(fresh))
    ctl_main(["update", "shop", "--cookie-file", "-"], env=env)
    out, err = capsys.readouterr()
    secrets_guard.add_text("ctl update from stdin", out + err)
    assert any("rolled_back" in text or "rolled back" in text for text in outputs)
    assert any("conflict" in text or "belongs to seller" in text for text in outputs)
