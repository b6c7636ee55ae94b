"""``python run.py ctl <command> ...`` (also ``xianyu-ctl``): operate a running service.

Exit status 0 on success (applied, unchanged, stored, added and online), 2 when an
update or rollback was rolled back or a new account did not come online, 1 with the
message on stderr on any error (and for a ``notify-test`` whose notice did not reach
every URL). Cookies are
read from ``--cookie-file PATH`` or standard input, never from the command line,
so they do not land in shell history or ``ps``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from control.arguments import MAX_COOKIE, cookie_too_long
from control.client import DEFAULT_TIMEOUT_S, ControlClient
from control.errors import BAD_REQUEST, ControlError
from control.login_cli import login_arguments, run_login
from control.redact import redact_text
from control.render import render

PROG = "python run.py ctl"

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_APPLIED = 2  # rolled back, or added but not online: the command ran, the goal was missed
# after 'add': states that are an answer (anything else is still on its way)
SETTLED_STATES = frozenset({"online", "needs_cookie", "backoff", "failed", "stopped", "disabled"})
ADD_WAIT_S = 30.0  # the default probation (20 s) and a margin

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
  renew ACCOUNT                             renew the login session now (swapped in like update)
  rollback ACCOUNT [--to VERSION]           back to the previous good cookie (or VERSION)
  history ACCOUNT [--limit N]               cookie versions (fingerprints, never values)
  events [ACCOUNT] [--limit N] [--since T]  what happened, newest first
  rules ACCOUNT                             keyword rules and the default reply
  set-rules ACCOUNT --file FILE|- | --clear replace them: {"rules": [{"keyword", "reply",
                                            "item_id"?}], "default_reply": {"text"} | null}
  set ACCOUNT [--remark TEXT] [--pause-minutes N] [--notify URL ...] [--proxy URL] [--node N]
                                            change only those fields. --notify: this account's
                                            own notification URLs (apprise; repeatable;
                                            --notify "" clears). --proxy: its token calls and
                                            WebSocket through http://, https:// or socks5://
                                            (user:pass@ allowed, never shown; --proxy "" clears;
                                            restarts it onto the new route). --node: pin it
                                            to that cluster node (--node "" unpins)
  pauses ACCOUNT                            chats where auto-replies are paused (a person answered)
  unpause ACCOUNT CHAT                      auto-reply in that chat again
  notify-test                               send a test notice to every notification URL
  nodes                                     the cluster's live nodes (one without PostgreSQL)
  login ACCOUNT [--new] [--png FILE]        QR-code login: scan with the Goofish app; the new
                                            login is applied like 'update' (--new: adds it)

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
    sub = parser.add_subparsers(
        dest="command", metavar="<command>", parser_class=_Parser, help="one of the commands below"
    )
    sub.required = True

    def command(name: str, text: str, *aliases: str) -> argparse.ArgumentParser:
        # no help=: the epilog lists each command once (argparse would list them again)
        return sub.add_parser(name, description=text, parents=[common], aliases=aliases)

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
    command("nodes", "the cluster's live nodes and how many accounts each serves")
    account_arg(command("status", "state of every account, or of one"), optional=True)
    p = command("add", "add an account and start it")
    account_arg(p)
    cookie_arg(p)
    p.add_argument("--disabled", action="store_true", help="store it without starting it")
    p.add_argument("--remark", default="", help="a note for operators")
    p.add_argument("--proxy", help=_PROXY_HELP)
    p.add_argument("--no-wait", action="store_true", help="do not wait for it to come online")
    for name, text in (
        ("remove", "stop an account and delete its data"),
        ("enable", "start an account"),
        ("disable", "stop an account, keeping its data"),
        ("kill", "cut an account off now; a fresh generation starts"),
        ("renew", "renew the login session now; the new cookie is swapped in like update"),
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
    _settings_commands(command, account_arg)
    return parser


def _settings_commands(
    command: Callable[..., argparse.ArgumentParser],
    account_arg: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The commands that change an account's replies and settings."""
    p = command("set-rules", "replace an account's rules from a JSON file", "set_rules")
    account_arg(p)
    rules_from = p.add_mutually_exclusive_group(required=True)
    rules_from.add_argument("--file", metavar="FILE", help="JSON rules file, or - for stdin")
    rules_from.add_argument(
        "--clear", action="store_true", help="remove every rule and the default reply"
    )
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
    p.add_argument("--node", help="pin it to this cluster node (see 'nodes'); \"\" unpins")
    account_arg(command("pauses", "chats of an account where auto-replies are paused"))
    p = command("unpause", "auto-reply in a paused chat again")
    account_arg(p)
    p.add_argument("chat", metavar="CHAT", help="the chat id, as 'pauses' lists it")
    command("notify-test", "send a test notice to every notification URL", "notify_test")
    login_arguments(command("login", "log an account in by QR code (scan it with the Goofish app)"))


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
    if path == "-" and _isatty(stdin):
        # typed or pasted by hand: say what is expected and how to end it
        print("paste the Cookie header, then press Enter and Ctrl-D:", file=sys.stderr, flush=True)
    text = stdin.read() if path == "-" else _read_file(path, "cookie")
    text = text.strip()
    if len(text) > MAX_COOKIE:  # the same sentence the service gives, before sending it
        raise ControlError(BAD_REQUEST, cookie_too_long(len(text)))
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
        "set_rules": lambda: (
            {"account": account, "rules": [], "clear": True}
            if args.clear
            else {"account": account, **read_rules(args.file, stdin)}
        ),
        "set": lambda: {
            "account": account,
            "remark": args.remark,
            "pause_minutes": args.pause_minutes,
            "notify": args.notify,
            "proxy": args.proxy,
            "node": args.node,
        },
        "unpause": lambda: {"account": account, "chat": args.chat},
        "notify_test": dict,
        "nodes": dict,
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
            if cmd == "login":
                return run_login(
                    client,
                    args.account,
                    new=args.new,
                    png=args.png,
                    interval=args.poll_interval,
                    stdout=stdout,
                    stderr=stderr,
                )
            result = client.call(cmd, **request)
            if cmd == "add" and request.get("enabled") and not args.no_wait:
                result = {**result, **_settled(client, request["account"], timeout)}
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except _UsageError as exc:
        print(str(exc), file=stderr)
        return EXIT_ERROR
    except ControlError as exc:
        print(f"error ({exc.code}): {redact_text(exc.message)}", file=stderr)
        return EXIT_ERROR
    if getattr(args, "json", False):
        text = json.dumps(result, ensure_ascii=False, indent=2)
    elif cmd == "status" and not result.get("accounts"):
        text = f"no accounts; add one with: {_ctl_here(args)} add <account-id> --cookie-file <file>"
    else:
        text = render(cmd, result)
    print(redact_text(text), file=stdout)
    return exit_code(cmd, result)


def _ctl_here(args: argparse.Namespace) -> str:
    """This CLI with the options that found the service (so the hint can be pasted)."""
    where = ""
    if getattr(args, "socket", None) is not None:
        where = f" --socket {args.socket}"
    elif getattr(args, "data_dir", None) is not None:
        where = f" --data-dir {args.data_dir}"
    return PROG + where


def exit_code(cmd: str, result: Mapping[str, Any]) -> int:
    """0 when the command reached its goal, 2 when it ran but did not (see the module doc)."""
    if result.get("outcome") == "rolled_back":
        return EXIT_NOT_APPLIED
    if cmd == "add" and result.get("state") not in (None, "online", "disabled"):
        return EXIT_NOT_APPLIED
    if cmd == "notify_test" and result.get("failed"):
        return EXIT_ERROR  # a test notice that did not arrive is a failure a script should see
    return EXIT_OK


def _settled(client: ControlClient, account: str, timeout: float) -> dict[str, Any]:
    """The new account's state once it is an answer (online, needs_cookie ...), polled."""
    deadline = time.monotonic() + min(timeout, ADD_WAIT_S)
    while True:
        row = (client.call("status", account=account).get("accounts") or [{}])[0]
        if row.get("state") in SETTLED_STATES or time.monotonic() > deadline:
            return {"state": row.get("state"), "last_error": row.get("last_error")}
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
