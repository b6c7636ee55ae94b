"""``python run.py [serve]``: parse options (flags over environment over defaults) and run.

--data-dir       XIANYU_DATA_DIR       ./data (SQLite at <data dir>/xianyu.db, socket control.sock)
--database-url   XIANYU_DATABASE_URL   sqlite:///<data dir>/xianyu.db or postgresql://...
--ws-url         XIANYU_WS_URL         the real Goofish IM WebSocket
--api-url        XIANYU_API_URL        the real Goofish token API
--log-format     XIANYU_LOG_FORMAT     auto (console on a tty, JSON otherwise) | console | json
--web            XIANYU_WEB            127.0.0.1:8780 | HOST:PORT | off (a non-loopback HOST only
                                       when given as --web, never from the environment)
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
from common.settings import DEFAULT_API_URL, DEFAULT_WEB, DEFAULT_WS_URL, Settings
from service.logging import FORMATS, configure_logging
from web.address import parse_web

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
        "--log-format",
        choices=FORMATS,
        default=env.get("XIANYU_LOG_FORMAT") or "auto",
        help="console on a tty and JSON otherwise by default (env XIANYU_LOG_FORMAT)",
    )
    parser.add_argument(
        "--web",
        default=None,
        metavar="HOST:PORT|off",
        help=f"the web page (env XIANYU_WEB; default {DEFAULT_WEB}; 'off' serves none); "
        "an address other than loopback must be given here, explicitly",
    )
    return parser


def web_setting(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    """The ``web`` setting: the flag, else XIANYU_WEB, else the default. A non-loopback
    address anywhere but the flag is refused (``InvalidValueError``): exposing the page
    beyond this machine must be a visible choice on the command line."""
    if args.web is not None:
        return str(args.web)
    value = env.get("XIANYU_WEB") or DEFAULT_WEB
    address = parse_web(value)
    if address is not None and not address.loopback:
        raise InvalidValueError(
            "XIANYU_WEB",
            "a loopback address or 'off'",
            value=value,
            hint=f"to serve the page on {address}, give --web {address} on the command line",
        )
    return value


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings(
        data_dir=args.data_dir,
        database_url=args.database_url,
        ws_url=args.ws_url,
        api_url=args.api_url,
        log_format=args.log_format,
        web=args.web,
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
        args.web = web_setting(args, environ)
        parse_web(args.web)
    except InvalidValueError as exc:
        parser.error(str(exc))
    settings = settings_from_args(args)
    configure_logging(settings.log_format)
    from service.app import run  # after logging is configured: imports may log

    try:
        return run(settings, actor_class=actor_class)
    except XianyuSupervisorError as exc:
        log.error("service_failed", error=str(exc))
        print(f"xianyu-supervisor: {exc}", file=sys.stderr)  # noqa: T201
        return 1
