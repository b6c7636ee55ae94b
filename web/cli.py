"""``python run.py web-token [--rotate]``: print the web page's login URL, or replace its token.

The token lives in ``<data dir>/web-token`` (mode 0600). ``--rotate`` writes a new one: a
running service uses it at once, and every page logged in with the old one must log in again.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from common.errors import InvalidValueError
from common.settings import DEFAULT_WEB, Settings
from web.address import parse_web
from web.auth import read_token, rotate_token


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python run.py web-token",
        description="Print the web page's login URL (with its token), or replace the token.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env.get("XIANYU_DATA_DIR") or "data"),
        help="the service's data dir (env XIANYU_DATA_DIR; default ./data)",
    )
    parser.add_argument(
        "--web",
        default=env.get("XIANYU_WEB") or DEFAULT_WEB,
        help="the page's HOST:PORT, for the URL (env XIANYU_WEB; default 127.0.0.1:8780)",
    )
    parser.add_argument(
        "--rotate",
        action="store_true",
        help="replace the token; pages logged in with the old one must log in again",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
    args = build_parser(os.environ if env is None else env).parse_args(
        list(sys.argv[1:] if argv is None else argv)
    )
    path = Settings(data_dir=args.data_dir).web_token_path
    token = rotate_token(path) if args.rotate else read_token(path)
    try:
        address = parse_web(args.web)
    except InvalidValueError as exc:
        print(f"web-token: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    if args.rotate:
        print("new token written; pages logged in with the old one must log in again")  # noqa: T201
    if address is None:
        print(f"token: {token} (the web page is off: --web off)")  # noqa: T201
    else:
        print(address.url(f"/?token={token}"))  # noqa: T201
    return 0
