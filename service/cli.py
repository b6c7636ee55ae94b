"""``python run.py [serve]``: parse options (flags over environment over defaults) and run.

--data-dir       XIANYU_DATA_DIR       ./data (SQLite at <data dir>/xianyu.db, socket control.sock)
--database-url   XIANYU_DATABASE_URL   sqlite:///<data dir>/xianyu.db or postgresql://...
--ws-url         XIANYU_WS_URL         the real Goofish IM WebSocket
--api-url        XIANYU_API_URL        the real Goofish token API
--passport-url   XIANYU_PASSPORT_URL   the real Goofish login host (renewal, QR login)
--log-format     XIANYU_LOG_FORMAT     auto (console on a tty, JSON otherwise) | console | json
--notify URL     XIANYU_NOTIFY_URLS    apprise URLs told when a person is needed (repeatable;
                                       the variable holds them separated by spaces)
--metrics        XIANYU_METRICS        off; HOST:PORT serves /metrics, /healthz, /readyz
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from common.errors import InvalidValueError, XianyuSupervisorError
from common.settings import DEFAULT_API_URL, DEFAULT_PASSPORT_URL, DEFAULT_WS_URL, Settings
from metrics import parse_address
from notify.sender import check_urls
from service.logging import FORMATS, configure_logging

if TYPE_CHECKING:
    from actors.account import AccountActor

log = structlog.get_logger(__name__)


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python run.py serve",
        description="Keep Xianyu (Goofish) seller accounts online and auto-replying. "
        "Operate it with 'python run.py ctl ...' while it runs; stop it with SIGTERM or Ctrl-C.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env.get("XIANYU_DATA_DIR") or "data"),
        help="database, control socket (env XIANYU_DATA_DIR; default ./data)",
    )
    parser.add_argument(
        "--database-url",
        default=env.get("XIANYU_DATABASE_URL") or None,
        help="sqlite:///path or postgresql://... (env XIANYU_DATABASE_URL; "
        "default SQLite at <data dir>/xianyu.db)",
    )
    parser.add_argument(
        "--ws-url",
        default=env.get("XIANYU_WS_URL") or DEFAULT_WS_URL,
        help="Goofish IM WebSocket (env XIANYU_WS_URL), e.g. a local simulator's",
    )
    parser.add_argument(
        "--api-url",
        default=env.get("XIANYU_API_URL") or DEFAULT_API_URL,
        help="Goofish token API (env XIANYU_API_URL), e.g. a local simulator's",
    )
    parser.add_argument(
        "--passport-url",
        default=env.get("XIANYU_PASSPORT_URL") or DEFAULT_PASSPORT_URL,
        help="Goofish login host for session renewal and QR login (env XIANYU_PASSPORT_URL), "
        "e.g. a local simulator's passport_url",
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default=env.get("XIANYU_LOG_FORMAT") or "auto",
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
    parser.set_defaults(notify_from_env=env.get("XIANYU_NOTIFY_URLS", "").split())
    parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        type=_metrics_address,
        default=_metrics_address(env["XIANYU_METRICS"]) if env.get("XIANYU_METRICS") else None,
        help="serve Prometheus /metrics, /healthz and /readyz there (env XIANYU_METRICS; "
        "default off), e.g. 127.0.0.1:9108",
    )
    return parser


def _metrics_address(text: str) -> str:
    try:
        parse_address(text)
    except InvalidValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def notify_urls(args: argparse.Namespace) -> tuple[str, ...]:
    """``--notify`` URLs, else those of ``XIANYU_NOTIFY_URLS``; ValueError names a bad one."""
    given = args.notify if args.notify is not None else args.notify_from_env
    urls = tuple(dict.fromkeys(u.strip() for u in given if u.strip()))
    check_urls(urls)
    return urls


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The settings of parsed arguments; ValueError when a notification URL is unusable."""
    return Settings(
        data_dir=args.data_dir,
        database_url=args.database_url,
        ws_url=args.ws_url,
        api_url=args.api_url,
        passport_url=args.passport_url,
        log_format=args.log_format,
        notify_urls=notify_urls(args),
        metrics=args.metrics,
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
    if args.log_format not in FORMATS:  # a bad XIANYU_LOG_FORMAT bypasses argparse's choices
        parser.error(f"log format {args.log_format!r} is not one of {', '.join(FORMATS)}")
    try:
        settings = settings_from_args(args)
    except ValueError as exc:  # the message names the URL by its label only
        parser.error(str(exc))
    configure_logging(settings.log_format)
    from service.app import run  # after logging is configured: imports may log

    try:
        return run(settings, actor_class=actor_class)
    except XianyuSupervisorError as exc:
        log.error("service_failed", error=str(exc))
        print(f"xianyu-supervisor: {exc}", file=sys.stderr)  # noqa: T201
        return 1
