"""The launcher dispatches to the subcommands the README names."""

import run


def test_launcher_knows_every_documented_subcommand():
    assert set(run.SUBCOMMANDS) >= {"serve", "simulator", "ctl", "demo"}


def test_launcher_help_exits_zero(capsys):
    assert run.main(["--help"]) == 0
    assert "simulator" in capsys.readouterr().out
