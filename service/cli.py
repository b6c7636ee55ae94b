"""``python run.py [serve]``: parse options (flags > environment > config file > defaults), run.

--config         XIANYU_CONFIG         <data dir>/config.toml when it exists (service.config)
--data-dir       XIANYU_DATA_DIR       ./data (SQLite at <data dir>/xianyu.db, socket control.sock)
--database-url   XIANYU_DATABASE_URL   sqlite:///<data dir>/xianyu.db or postgresql://...
--ws-url         XIANYU_WS_URL         the real Goofish IM WebSocket
--api-url        XIANYU_API_URL        the real Goofish token API
--passport-url   XIANYU_PASSPORT_URL   the real Goofish login host (renewal, QR login)
--log-format     XIANYU_LOG_FORMAT     auto (console on a tty, JSON otherwise) | console | json
--notify URL     XIANYU_NOTIFY_URLS    apprise URLs told when a person is needed (repeatable;
                                       the variable holds them separated by spaces)
--web            XIANYU_WEB            127.0.0.1:8780 | HOST:PORT | off; a non-loopback HOST
                                       only when given as --web (not the environment or file)
--metrics        XIANYU_METRICS        off; HOST:PORT serves /metrics, /healthz, /readyz
--renew-interval-s, --renew-min-gap-s, --renew-spacing-s (XIANYU_RENEW_*_S): session renewal
                 timings in seconds (defaults 4 h, 60, 1; docs/login.md)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import structlog

from common.errors import InvalidValueError, XianyuSupervisorError
from common.settings import DEFAULT_WEB, Settings, Timings
from metrics import parse_address
from notify.sender import check_urls
from service.config import CONFIG_NAME, ENV_CONFIG, apply, config_path, read_config, render_toml
from service.logging import FORMATS, configure_logging
from web.address import parse_web

if TYPE_CHECKING:
    from actors.account import AccountActor

log = structlog.get_logger(__name__)

# Timings with a flag (session renewal, cluster leases): field -> help; tests and benchmarks
# shrink them
_TIMING_FLAGS = {
    "renew_interval_s": "how often each account renews its login session (default 4 h, +-30%%)",
    "renew_min_gap_s": "after 'session expired': at most one renewal per account this often",
    "renew_spacing_s": "the whole fleet starts at most one renewal this often",
    # cluster mode (docs/cluster.md)
    "lease_renew_s": "cluster: how often a node renews its accounts' leases (default 5)",
    "lease_ttl_s": "cluster: how long a lease is valid on the database's clock (default 15)",
}


# (flag, environment variable, Settings field) of every option with a flag
OPTIONS: tuple[tuple[str, str, str], ...] = (
    ("--data-dir", "XIANYU_DATA_DIR", "data_dir"),
    ("--database-url", "XIANYU_DATABASE_URL", "database_url"),
    ("--ws-url", "XIANYU_WS_URL", "ws_url"),
    ("--api-url", "XIANYU_API_URL", "api_url"),
    ("--passport-url", "XIANYU_PASSPORT_URL", "passport_url"),
    ("--log-format", "XIANYU_LOG_FORMAT", "log_format"),
    ("--web", "XIANYU_WEB", "web"),
    ("--metrics", "XIANYU_METRICS", "metrics"),
    ("--node-id", "XIANYU_NODE_ID", "node_id"),
)


def build_parser(
    env: Mapping[str, str], *, prog: str = "python run.py serve"
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Keep Xianyu (Goofish) seller accounts online and auto-replying. "
        "Operate it with 'xianyu-ctl ...' (or 'python run.py ctl ...') while it runs; "
        "stop it with SIGTERM or Ctrl-C. Precedence: flags > environment > config file > "
        "defaults.",
    )
    # flags default to None: "not given", so the environment and the file can fill them in
    parser.add_argument(
        "--config",
        type=Path,
        help=f"TOML configuration file (env {ENV_CONFIG}; default <data dir>/{CONFIG_NAME} "
        "when it exists); 'python run.py config' prints the effective one",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="database, control socket (env XIANYU_DATA_DIR; default ./data)",
    )
    parser.add_argument(
        "--database-url",
        help="sqlite:///path or postgresql://... (env XIANYU_DATABASE_URL; "
        "default SQLite at <data dir>/xianyu.db)",
    )
    parser.add_argument(
        "--ws-url", help="Goofish IM WebSocket (env XIANYU_WS_URL), e.g. a local simulator's"
    )
    parser.add_argument(
        "--api-url", help="Goofish token API (env XIANYU_API_URL), e.g. a local simulator's"
    )
    parser.add_argument(
        "--passport-url",
        help="Goofish login host for session renewal and QR login (env XIANYU_PASSPORT_URL), "
        "e.g. a local simulator's passport_url",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        help="console on a tty and JSON otherwise by default (env XIANYU_LOG_FORMAT)",
    )
    parser.add_argument(
        "--notify",
        action="append",
        metavar="URL",
        default=None,
        help="an apprise URL told when an account needs a person (json://host/path, "
        "dingtalk://token/, tgram://bot/chat, ...); repeatable (env XIANYU_NOTIFY_URLS, "
        "space-separated)",
    )
    parser.add_argument(
        "--web",
        metavar="HOST:PORT|off",
        help=f"the web page (env XIANYU_WEB; default {DEFAULT_WEB}; 'off' serves none); "
        "an address other than loopback is taken from this flag only",
    )
    parser.add_argument(
        "--node-id",
        help="this node's name in a cluster on PostgreSQL, unique among live nodes "
        "(env XIANYU_NODE_ID; default derived from the host name and the data dir)",
    )
    parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus /metrics, /healthz and /readyz there (env XIANYU_METRICS; "
        "default off), e.g. 127.0.0.1:9108",
    )
    for name, text in _TIMING_FLAGS.items():
        flag, variable = "--" + name.replace("_", "-"), "XIANYU_" + name.upper()
        parser.add_argument(
            flag, type=float, default=None, metavar="S", help=f"{text} (env {variable})"
        )
    parser.set_defaults(_env=dict(env))
    return parser


def _timings(timings: Timings, args: argparse.Namespace, env: Mapping[str, str]) -> Timings:
    """``timings`` with the renewal ones given by flag (first) or environment variable."""
    for name in _TIMING_FLAGS:
        value = getattr(args, name, None) or env.get("XIANYU_" + name.upper())
        if value is not None:
            timings = dataclasses.replace(timings, **{name: float(value)})  # type: ignore[arg-type]
    return timings


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults, then the config file, then the environment, then the flags.

    ValueError when a notification URL is unusable (named by its label only)."""
    settings, _source = resolve_settings(args)
    return settings


def resolve_settings(args: argparse.Namespace) -> tuple[Settings, Path | None]:
    """The effective settings and the config file they came from (None: no file)."""
    env: Mapping[str, str] = getattr(args, "_env", {})
    flags = {field: getattr(args, field) for _flag, _var, field in OPTIONS}
    environment = {field: env[var] for _flag, var, field in OPTIONS if env.get(var)}
    data_dir = Path(flags["data_dir"] or environment.get("data_dir") or Settings().data_dir)
    path, required = config_path(args.config, env, data_dir)
    # serve's page is on by default; a Settings built in code (tests, the demo) has none
    settings = Settings(web=DEFAULT_WEB)
    if path is not None and (required or path.exists()):
        settings = apply(settings, read_config(path), path=path)
    overrides: dict[str, object] = {**environment, **{k: v for k, v in flags.items() if v}}
    if "data_dir" in overrides:
        overrides["data_dir"] = Path(str(overrides["data_dir"]))
    flag = getattr(args, "notify", None)
    given = flag if flag is not None else env.get("XIANYU_NOTIFY_URLS", "").split()
    if given:  # a list flag and a space-separated variable: not in OPTIONS
        overrides["notify_urls"] = tuple(dict.fromkeys(u.strip() for u in given if u.strip()))
    settings = dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]
    settings = dataclasses.replace(settings, timings=_timings(settings.timings, args, env))
    _check_choices(settings, path)
    _check_web(settings, path, from_flag=flags["web"] is not None)
    check_urls(settings.notify_urls)
    return settings, path


def _check_choices(settings: Settings, path: Path | None) -> None:
    if settings.metrics:  # from a flag, the environment or the file: checked here once
        try:
            parse_address(settings.metrics)
        except InvalidValueError as exc:
            raise XianyuSupervisorError(
                f"{exc} (from the flags, the environment or {path or 'the defaults'})"
            ) from None
    if settings.log_format not in FORMATS:
        raise XianyuSupervisorError(
            f"log format {settings.log_format!r} (from the flags, the environment or "
            f"{path or 'the defaults'}) is not one of {', '.join(FORMATS)}"
        )


def _check_web(settings: Settings, path: Path | None, *, from_flag: bool) -> None:
    """A bad address is refused; one beyond loopback only when ``--web`` itself gave it:
    exposing every account's controls must be a visible choice on the command line."""
    where = "--web" if from_flag else f"XIANYU_WEB or {path or 'the defaults'}"
    try:
        address = parse_web(settings.web)
    except InvalidValueError as exc:
        raise XianyuSupervisorError(f"{exc} (from {where})") from None
    if address is not None and not address.loopback and not from_flag:
        raise XianyuSupervisorError(
            f"the web page's address {address} (from {where}) is not a loopback address",
            hint=f"to serve the page beyond this machine, give --web {address} on the command line",
        )


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    actor_class: type[AccountActor] | None = None,
) -> int:
    """Run the service in the foreground; returns the process exit code.

    ``actor_class``: another ``AccountActor`` for every account (bench/harness/serve_naive.py)."""
    environ = os.environ if env is None else env
    parser = build_parser(environ)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        settings = settings_from_args(args)
    except XianyuSupervisorError as exc:  # the configuration: before logging is set up
        print(f"xianyu-supervisor: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    except ValueError as exc:  # an unusable notification URL, named by its label only
        parser.error(str(exc))
    # everything this process creates (database, WAL, socket) is for its own user only
    os.umask(0o077)
    chosen = configure_logging(settings.log_format)
    from service.app import run  # after logging is configured: imports may log

    try:
        return run(settings, actor_class=actor_class)
    except XianyuSupervisorError as exc:
        # one line: in JSON mode the log stream carries nothing but JSON
        if chosen == "json":
            log.error("service_failed", error=str(exc))
        else:
            print(f"xianyu-supervisor: {exc}", file=sys.stderr)  # noqa: T201
        return 1


def print_config(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    """``python run.py config [serve's options]``: the effective configuration, redacted."""
    environ = os.environ if env is None else env
    parser = build_parser(environ, prog="python run.py config")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        settings, source = resolve_settings(args)
    except (XianyuSupervisorError, ValueError) as exc:
        print(f"xianyu-supervisor: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(render_toml(settings, source=source), file=stdout or sys.stdout)
    return 0
