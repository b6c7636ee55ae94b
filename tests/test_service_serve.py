"""``python run.py serve`` as a real process against the simulator: signals, restarts, logs."""

from __future__ import annotations

import json
import signal

from tests.plugins.faults import cookie_secrets
from tests.plugins.serve import START_TIMEOUT_S, ServeProcess, all_online, statuses
from tests.plugins.simulator import Seller, new_seller
from tests.plugins.timing import wait_for


def secrets_of(*sellers: Seller | str) -> list[str]:
    cookies = [s.cookie if isinstance(s, Seller) else s for s in sellers]
    return [value for cookie in cookies for value in cookie_secrets(cookie)]


def test_serve_hints_how_to_add_an_account_and_exits_zero_on_sigterm(serve):
    process = serve()
    wait_for(lambda: "no_accounts" in process.log_text(), what="the no-accounts line")
    text = process.log_text()
    # JSON mode: nothing but JSON on the log stream, the hint included
    assert all(line.startswith("{") for line in text.splitlines() if line.strip())
    hint = next(json.loads(line)["hint"] for line in text.splitlines() if "no_accounts" in line)
    # the interpreter that runs the service (not a bare python), and the data dir it uses
    assert "xianyu-ctl --data-dir" in hint or "python run.py ctl --data-dir" in hint
    assert f"--data-dir {process.data_dir} add" in hint
    assert "run.py demo" in hint
    assert process.stop(signal.SIGTERM) == 0
    events = [
        json.loads(line)["event"] for line in process.log_text().splitlines() if line[:1] == "{"
    ]
    assert "service_stopped" in events
    assert not (process.data_dir / "control.sock").exists()


def test_sigint_also_shuts_down_gracefully(serve):
    assert serve().stop(signal.SIGINT) == 0


def test_sigusr1_dumps_every_thread_and_keeps_serving(serve):
    process = serve()
    process.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: "MainThread" in process.log_text(), what="a thread dump")
    wait_for(lambda: "control-socket" in process.log_text(), what="the whole dump")
    text = process.log_text()
    complete = (
        text if text.endswith("\n") else text[: text.rfind("\n") + 1]
    )  # one may be half-written
    lines = [json.loads(line) for line in complete.splitlines() if line[:1] == "{"]
    dumps = [e for e in lines if e["event"] == "thread_traceback"]
    assert dumps and {e["level"] for e in dumps} == {"warning"}  # asked for: not CRITICAL
    assert not [e for e in lines if e["level"] == "critical"]
    started = next(e for e in lines if e["event"] == "service_started")
    assert started["database"].startswith("sqlite:///") and started["database"].endswith(
        "xianyu.db"
    )
    assert started["socket"].endswith("control.sock")
    with process.client() as c:
        assert c.call("ping")
    assert process.stop() == 0


def test_a_second_start_restores_every_account_with_the_same_active_versions(
    serve, sim, short_dir, capsys
):
    from control.cli import main as ctl

    sellers = [new_seller(sim, nick=f"shop{i}") for i in range(3)]
    fresh = sim.admin.create_user(user_id=sellers[0].user_id)["cookie"]
    first = serve("first.log")
    env = {"XIANYU_DATA_DIR": str(short_dir)}
    for i, seller in enumerate(sellers):
        cookie_file = short_dir / f"cookie{i}.txt"
        cookie_file.write_text(seller.cookie)
        assert ctl(["add", f"shop{i}", "--cookie-file", str(cookie_file)], env=env) == 0
    wait_for(lambda: all_online(first, 3), what="three accounts online")
    (short_dir / "fresh.txt").write_text(fresh)
    assert ctl(["update", "shop0", "--cookie-file", str(short_dir / "fresh.txt")], env=env) == 0
    assert ctl(["status"], env=env) == 0
    assert ctl(["history", "shop0"], env=env) == 0
    before = {k: v["cookie_version"] for k, v in statuses(first).items()}
    assert before == {"shop0": 2, "shop1": 1, "shop2": 1}
    assert first.stop() == 0

    second = serve("second.log")
    wait_for(lambda: all_online(second, 3), what="three accounts online again")
    assert {k: v["cookie_version"] for k, v in statuses(second).items()} == before
    assert "no_accounts" not in second.log_text()
    assert second.stop() == 0

    output = capsys.readouterr()
    everything = first.log_text() + second.log_text() + output.out + output.err
    for secret in secrets_of(*sellers, fresh):
        assert secret not in everything


def test_a_second_service_on_the_same_data_dir_is_refused(serve, sim, short_dir):
    first = serve()
    second = ServeProcess(sim, short_dir, log_name="second.log")
    try:
        assert second.proc.wait(timeout=START_TIMEOUT_S) == 1
        assert "already listening" in second.log_text()
        assert "service_started" not in second.log_text()  # it gave up before connecting anyone
    finally:
        second.kill()
    with first.client() as c:
        assert c.call("ping")
    assert first.stop() == 0
