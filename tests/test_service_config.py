"""The configuration file (issue 12 §2): keys are the settings' fields, flags > environment >
file > defaults, a bad key or type names the key and the file, ``run.py config`` redacts."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from common.settings import Backoff, Settings, Timings
from service.cli import build_parser, main, print_config, settings_from_args
from service.config import ConfigError, apply, redact_url

REPO = Path(__file__).resolve().parents[1]


def settings(argv: list[str], env: dict[str, str]) -> Settings:
    return settings_from_args(build_parser(env).parse_args(argv))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_level_of_precedence(tmp_path: Path):
    config = write(
        tmp_path / "c.toml",
        'ws_url = "ws://file/"\napi_url = "http://file/"\nlog_format = "json"\n'
        "cookie_history = 3\n[timings]\nheartbeat_s = 5\n[timings.risk_backoff]\ncap_s = 600.0\n",
    )
    env = {
        "XIANYU_CONFIG": str(config),
        "XIANYU_API_URL": "http://env/",
        "XIANYU_LOG_FORMAT": "console",
    }
    s = settings(["--log-format", "json"], env)
    assert (s.ws_url, s.api_url, s.log_format, s.cookie_history) == (
        "ws://file/",  # file over default
        "http://env/",  # environment over file
        "json",  # flag over environment
        3,
    )
    assert s.timings.heartbeat_s == 5.0 and isinstance(s.timings.heartbeat_s, float)
    assert s.timings.risk_backoff == Backoff(base_s=300.0, cap_s=600.0)  # the rest kept
    assert s.timings.probation_s == Timings().probation_s


def test_the_flag_names_a_file_over_the_environment(tmp_path: Path):
    a = write(tmp_path / "a.toml", "cookie_history = 4\n")
    b = write(tmp_path / "b.toml", "cookie_history = 5\n")
    assert settings(["--config", str(a)], {"XIANYU_CONFIG": str(b)}).cookie_history == 4


def test_the_data_dirs_config_toml_is_read_when_it_exists(tmp_path: Path):
    assert settings(["--data-dir", str(tmp_path)], {}).cookie_history == Settings().cookie_history
    write(tmp_path / "config.toml", "cookie_history = 7\n")
    assert settings(["--data-dir", str(tmp_path)], {}).cookie_history == 7
    assert settings([], {"XIANYU_DATA_DIR": str(tmp_path)}).cookie_history == 7


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("nope = 1\n", "nope", "is not a setting"),
        ("[timings]\nheartbeat = 1\n", "timings.heartbeat", "is not a setting"),
        ('[timings]\nheartbeat_s = "fast"\n', "timings.heartbeat_s", "must be a number"),
        ("cookie_history = 2.5\n", "cookie_history", "must be an integer"),
        ("cookie_history = true\n", "cookie_history", "must be an integer"),
        ("timings = 3\n", "timings", "must be a table"),
        ("database_url = 5\n", "database_url", "must be a string"),
        ('[timings.network_backoff]\njitter = "x"\n', "timings.network_backoff.jitter", "number"),
    ],
)
def test_a_bad_key_or_type_names_the_key_and_the_file(tmp_path: Path, text, key, problem):
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        settings(["--config", str(path)], {})
    message = str(caught.value)
    assert f"{path}: '{key}'" in message and problem in message


def test_invalid_toml_and_a_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        settings(["--config", str(write(tmp_path / "x.toml", "a = \n"))], {})
    with pytest.raises(ConfigError, match="does not exist"):
        settings([], {"XIANYU_CONFIG": str(tmp_path / "missing.toml")})


def test_the_loader_is_generic_over_new_fields(tmp_path: Path):
    # a field another branch adds (notify_urls, passport_url ...) is a key without loader changes
    @dataclass(frozen=True)
    class Extended(Settings):
        notify_urls: tuple[str, ...] = ()
        passport_url: str | None = None
        timings: Timings = field(default_factory=Timings)

    got = apply(
        Extended(),
        {"notify_urls": ["https://hook/a", "https://hook/b"], "passport_url": "https://p/"},
        path=tmp_path / "c.toml",
    )
    assert got.notify_urls == ("https://hook/a", "https://hook/b")
    assert got.passport_url == "https://p/"
    with pytest.raises(ConfigError, match="must be a list of strings"):
        apply(Extended(), {"notify_urls": "https://one"}, path=tmp_path / "c.toml")


def test_config_prints_the_effective_configuration_redacted(tmp_path: Path):
    config = write(
        tmp_path / "c.toml",
        'database_url = "postgresql://shop:s3cret@db.local/xianyu"\n[timings]\nprobation_s = 30\n',
    )
    out = io.StringIO()
    assert (
        print_config(["--config", str(config), "--ws-url", "ws://flag/"], env={}, stdout=out) == 0
    )
    text = out.getvalue()
    assert "s3cret" not in text
    assert 'database_url = "postgresql://shop:<redacted>@db.local/xianyu"' in text
    assert 'ws_url = "ws://flag/"' in text
    assert "probation_s = 30.0" in text
    assert str(config) in text.splitlines()[0]
    # what it prints is a valid configuration file itself
    again = write(tmp_path / "again.toml", text)
    assert settings(["--config", str(again)], {}).timings.probation_s == 30.0


def test_webhook_urls_lose_their_query_values():
    assert redact_url("https://oapi.dingtalk.com/robot/send?access_token=abc123") == (
        "https://oapi.dingtalk.com/robot/send?access_token=%3Credacted%3E"
    )


def test_serve_with_a_bad_config_exits_1_with_one_line(tmp_path: Path, capsys):
    path = write(tmp_path / "bad.toml", "[timings]\nprobation = 1\n")
    assert main(["--config", str(path)], env={}) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'timings.probation' is not a setting" in err[0]


def test_run_py_config_is_a_subcommand(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "run.py", "config", "--data-dir", str(tmp_path)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f'data_dir = "{tmp_path}"' in done.stdout


def test_the_readme_example_is_a_complete_valid_configuration(tmp_path: Path):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert example, "README shows an example config.toml"
    path = write(tmp_path / "config.toml", example.group(1))
    loaded = settings(["--config", str(path)], {})
    # complete: every setting and timing appears in it
    text = example.group(1)
    for name in Settings.__dataclass_fields__:
        if name != "timings":
            assert re.search(rf"^#? ?{name} = ", text, re.M), name
    for name in Timings.__dataclass_fields__:
        assert re.search(rf"^({name} = |\[timings\.{name}\])", text, re.M), name
    assert loaded.timings == Timings() or loaded.timings.heartbeat_s > 0


def test_notify_urls_come_from_the_file_unless_given_and_print_as_labels(tmp_path: Path):
    secret = "hook-token-7f3a"
    config = write(tmp_path / "c.toml", f'notify_urls = ["json://127.0.0.1/{secret}"]\n')
    assert settings(["--config", str(config)], {}).notify_urls == (f"json://127.0.0.1/{secret}",)
    env = {"XIANYU_NOTIFY_URLS": "json://127.0.0.1/env"}
    assert settings(["--config", str(config)], env).notify_urls == ("json://127.0.0.1/env",)
    flags = ["--config", str(config), "--notify", "form://127.0.0.1/flag"]
    assert settings(flags, env).notify_urls == ("form://127.0.0.1/flag",)
    out = io.StringIO()
    assert print_config(["--config", str(config)], env={}, stdout=out) == 0
    assert secret not in out.getvalue() and "json://127.0.0.1 #" in out.getvalue()
    bad = write(tmp_path / "bad.toml", f'notify_urls = ["nosuch://{secret}"]\n')
    with pytest.raises(ValueError, match="not one apprise can use") as caught:
        settings(["--config", str(bad)], {})
    assert secret not in str(caught.value)
