"""``python run.py ctl <command> ...`` (also ``xianyu-ctl``): operate a running service.

Exit status 0 on success, 1 with the message on stderr on any error (and for a
``notify-test`` whose notice did not reach every URL). Cookies are
read from ``--cookie-file PATH`` or standard input, never from the command line,
so they do not land in shell history or ``ps``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from control.client import DEFAULT_TIMEOUT_S, ControlClient
from control.errors import BAD_REQUEST, ControlError
from control.redact import redact_text
from control.render import render

PROG = "python run.py ctl"

EPILOG = """\
commands:
  ping                                      is the service up? (version, uptime)
  status [ACCOUNT]                          state of every account, or of one
  add ACCOUNT --cookie-file FILE|- [--disabled] [--remark TEXT] [--proxy URL]
  remove ACCOUNT                            stop it and delete its data
  enable ACCOUNT / disable ACCOUNT          start / stop it, keeping its data
  update ACCOUNT --cookie-file FILE|- [--no-save] [--force] [--no-wait]
                                            swap to a new cookie; rolled back if it fails
  restart ACCOUNT [--no-wait]               graceful stop, then a fresh start
  kill ACCOUNT                              cut it off now; a fresh generation starts
  rollback ACCOUNT [--to VERSION]           back to the previous good cookie (or VERSION)
  history ACCOUNT [--limit N]               cookie versions (fingerprints, never values)
  events [ACCOUNT] [--limit N] [--since T]  what happened, newest first
  rules ACCOUNT                             keyword rules and the default reply
  set-rules ACCOUNT --file FILE|-           replace them: {"rules": [{"keyword", "reply",
                                            "item_id"?}], "default_reply": {"text"} | null}
  set ACCOUNT [--remark TEXT] [--pause-minutes N] [--notify URL ...]
                                            --notify: this account's own notification URLs
                                            (apprise; repeatable; --notify "" clears)
  set ACCOUNT --proxy URL                   its token calls and WebSocket through http://,
                                            https:// or socks5:// (user:pass@ allowed, never
                                            shown); --proxy "" clears; restarts it onto it
  notify-test                               send a test notice to every notification URL

options for every command: --json (raw result), --data-dir DIR (env XIANYU_DATA_DIR,
default ./data) or --socket PATH, --timeout SECONDS.

examples:
  python run.py ctl add shop-1 --cookie-file cookie.txt
  pbpaste | python run.py ctl update shop-1 --cookie-file -
  python run.py ctl status --json
"""


_PROXY_HELP = (
    "http://, https:// or socks5:// proxy for its token calls and WebSocket "
    "(user:password@ allowed; never shown)"
)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 1 (not argparse's 2) and never echo cookie-looking text."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {redact_text(message)}")


def _common_options() -> _Parser:
    # SUPPRESS lets the options appear before or after the command without one
    # position's default overwriting the other's value
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    where = common.add_mutually_exclusive_group()
    where.add_argument("--socket", type=Path, help="control socket path")
    where.add_argument("--data-dir", type=Path, help="the service's data dir (has control.sock)")
    common.add_argument("--json", action="store_true", help="print the raw JSON result")
    common.add_argument("--timeout", type=float, help="seconds to wait for an answer")
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(
        prog=PROG,
        description="Talk to a running xianyu-supervisor through its control socket.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", parser_class=_Parser)
    sub.required = True

    def command(name: str, text: str, *aliases: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, description=text, parents=[common], aliases=aliases)

    def account_arg(p: argparse.ArgumentParser, *, optional: bool = False) -> None:
        p.add_argument("account", nargs="?" if optional else None, metavar="ACCOUNT")

    def cookie_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--cookie-file",
            metavar="FILE",
            help="file holding the Cookie header, or - for stdin (default: stdin if piped)",
        )
        # a trap for the habit: refuse without echoing the value
        p.add_argument("--cookie", dest="cookie_on_command_line", help=argparse.SUPPRESS)

    command("ping", "is the service up? (version, uptime)")
    account_arg(command("status", "state of every account, or of one"), optional=True)
    p = command("add", "add an account and start it")
    account_arg(p)
    cookie_arg(p)
    p.add_argument("--disabled", action="store_true", help="store it without starting it")
    p.add_argument("--remark", default="", help="a note for operators")
    p.add_argument("--proxy", help=_PROXY_HELP)
    for name, text in (
        ("remove", "stop an account and delete its data"),
        ("enable", "start an account"),
        ("disable", "stop an account, keeping its data"),
        ("kill", "cut an account off now; a fresh generation starts"),
        ("rules", "show keyword rules and the default reply"),
    ):
        account_arg(command(name, text))
    p = command("update", "swap an account to a new cookie (rolled back if it fails)")
    account_arg(p)
    cookie_arg(p)
    p.add_argument("--no-save", action="store_true", help="hold the cookie in memory only")
    p.add_argument("--force", action="store_true", help="accept a cookie of another seller")
    p.add_argument("--no-wait", action="store_true", help="return at once; see 'events'")
    p = command("restart", "graceful stop, then a fresh start")
    account_arg(p)
    p.add_argument("--no-wait", action="store_true", help="return at once")
    p = command("rollback", "back to the previous good cookie version")
    account_arg(p)
    p.add_argument("--to", type=int, dest="to_version", metavar="VERSION")
    p = command("history", "cookie versions (fingerprints, never values)")
    account_arg(p)
    p.add_argument("--limit", type=int, default=20)
    p = command("events", "what happened, newest first")
    account_arg(p, optional=True)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--since", help="ISO-8601 time or epoch seconds")
    p = command("set-rules", "replace an account's rules from a JSON file", "set_rules")
    account_arg(p)
    p.add_argument("--file", required=True, metavar="FILE", help="JSON rules file, or - for stdin")
    p = command("set", "change an account's remark or pause")
    account_arg(p)
    p.add_argument("--remark")
    p.add_argument("--pause-minutes", type=int, help="how long a manual reply pauses a chat")
    p.add_argument("--proxy", help=_PROXY_HELP + '; "" clears it')
    p.add_argument(
        "--notify",
        action="append",
        metavar="URL",
        help="this account's own notification URL (apprise, e.g. json://host/path); "
        'repeatable; --notify "" goes back to the global ones',
    )
    command("notify-test", "send a test notice to every notification URL", "notify_test")
    return parser


# --- request building -------------------------------------------------------------------


def read_cookie(path: str | None, stdin: TextIO) -> str:
    """The cookie from ``path`` (``-``: stdin), or from stdin when it is piped."""
    if path is None:
        if _isatty(stdin):
            raise ControlError(
                BAD_REQUEST,
                "give the cookie with --cookie-file FILE, or pipe it in (--cookie-file -)",
            )
        path = "-"
    text = stdin.read() if path == "-" else _read_file(path, "cookie")
    text = text.strip()
    if text.lower().startswith("cookie:"):
        text = text[len("cookie:") :].strip()
    if not text:
        where = "standard input" if path == "-" else path
        raise ControlError(BAD_REQUEST, f"no cookie found in {where}; it is empty")
    return text


def _read_file(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ControlError(BAD_REQUEST, f"{what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ControlError(BAD_REQUEST, f"cannot read {what} file {path}: {exc}") from None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def read_rules(path: str, stdin: TextIO) -> dict[str, Any]:
    text = stdin.read() if path == "-" else _read_file(path, "rules")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ControlError(BAD_REQUEST, f"rules file is not valid JSON: {exc}") from None
    if isinstance(data, list):
        return {"rules": data, "default_reply": None}
    if not isinstance(data, dict) or "rules" not in data:
        raise ControlError(
            BAD_REQUEST, 'rules file must be {"rules": [...], "default_reply": ...} or a list'
        )
    return {"rules": data["rules"], "default_reply": data.get("default_reply")}


def _since(value: str | None) -> float | str | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def build_request(args: argparse.Namespace, stdin: TextIO) -> tuple[str, dict[str, Any]]:
    """The protocol command and arguments for parsed CLI ``args``."""
    if getattr(args, "cookie_on_command_line", None) is not None:
        raise ControlError(
            BAD_REQUEST,
            "cookies are never taken on the command line (shell history, ps); "
            "use --cookie-file FILE or pipe it into --cookie-file -",
        )
    aliases = {"set-rules": "set_rules", "notify-test": "notify_test"}
    cmd = aliases.get(args.command, args.command)
    account = getattr(args, "account", None)
    builders: dict[str, Any] = {
        "ping": dict,
        "status": lambda: {"account": account},
        "add": lambda: {
            "account": account,
            "cookie": read_cookie(args.cookie_file, stdin),
            "enabled": not args.disabled,
            "remark": args.remark,
            "proxy": args.proxy,
        },
        "update": lambda: {
            "account": account,
            "cookie": read_cookie(args.cookie_file, stdin),
            "save": not args.no_save,
            "force": args.force,
            "wait": not args.no_wait,
        },
        "restart": lambda: {"account": account, "wait": not args.no_wait},
        "rollback": lambda: {"account": account, "to_version": args.to_version},
        "history": lambda: {"account": account, "limit": args.limit},
        "events": lambda: {"account": account, "limit": args.limit, "since": _since(args.since)},
        "set_rules": lambda: {"account": account, **read_rules(args.file, stdin)},
        "set": lambda: {
            "account": account,
            "remark": args.remark,
            "pause_minutes": args.pause_minutes,
            "notify": args.notify,
            "proxy": args.proxy,
        },
        "notify_test": dict,
    }
    build = builders.get(cmd, lambda: {"account": account})
    return cmd, {k: v for k, v in build().items() if v is not None}


def socket_path(args: argparse.Namespace, env: Mapping[str, str]) -> Path:
    if getattr(args, "socket", None) is not None:
        return args.socket
    data_dir = getattr(args, "data_dir", None) or Path(env.get("XIANYU_DATA_DIR") or "data")
    return Path(data_dir) / "control.sock"


# --- main -------------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run one command; returns 0 on success, 1 on any error (message on stderr)."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    environ = os.environ if env is None else env
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(args_list)
        cmd, request = build_request(args, stdin)
        timeout = getattr(args, "timeout", None) or DEFAULT_TIMEOUT_S
        with ControlClient(socket_path(args, environ), timeout=timeout) as client:
            result = client.call(cmd, **request)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except _UsageError as exc:
        print(str(exc), file=stderr)
        return 1
    except ControlError as exc:
        print(f"error ({exc.code}): {redact_text(exc.message)}", file=stderr)
        return 1
    if getattr(args, "json", False):
        text = json.dumps(result, ensure_ascii=False, indent=2)
    else:
        text = render(cmd, result)
    print(redact_text(text), file=stdout)
    # a test notice that did not arrive is a failure a script should see
    return 1 if cmd == "notify_test" and result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
