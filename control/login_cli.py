"""``ctl login ACCOUNT [--new] [--png FILE]``: a QR-code login from the terminal.

``login_start`` gives the text of the code; it is drawn in the terminal (``segno``, half-block
characters) and optionally saved as a PNG. Then ``login_poll`` every ``interval`` seconds:
the states follow each other on one line (``waiting → scanned → confirmed``); a
verification the phone asks for shows its URL and the polling goes on. Ctrl-C sends
``login_cancel``. Exit status: 0 when the new login was applied (or the account added),
2 when the code expired or was cancelled or the update was rolled back, 1 on any error.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any, TextIO

from control.client import ControlClient
from control.errors import ControlError
from control.redact import redact_text
from control.render import outcome

EXIT_APPLIED = 0
EXIT_ERROR = 1
EXIT_NOT_APPLIED = 2
_OPEN = ("waiting", "scanned", "verification_required")
# outcomes that leave the account on the new login
_APPLIED = ("applied", "added", "unchanged", "stored")


class _StateLine:
    """The states so far, redrawn in place on one line."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._states: list[str] = []
        self._width = 0

    def show(self, state: str) -> None:
        if self._states and self._states[-1] == state:
            return
        self._states.append(state)
        text = "login: " + " → ".join(self._states)
        self._out.write("\r" + text.ljust(self._width))
        self._out.flush()
        self._width = len(text)

    def note(self, text: str) -> None:
        """A line of its own under the states (then the states go on below it)."""
        self._out.write("\n" + text + "\n")
        self._width = 0
        self._out.flush()

    def end(self) -> None:
        if self._states:
            self._out.write("\n")
            self._out.flush()


def login_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of ``ctl login``."""
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument("--new", action="store_true", help="add it as a new account")
    p.add_argument("--png", metavar="FILE", help="also save the QR code as a PNG image")
    p.add_argument("--poll-interval", type=float, default=1.0, help=argparse.SUPPRESS)


def draw(qr_text: str, out: TextIO, *, png: str | None = None) -> None:
    """The code in the terminal, and as a PNG file when asked."""
    # imported here: every other ctl command runs on a bare standard-library python
    import segno

    code = segno.make(qr_text, error="m")
    code.terminal(out=out, compact=True)
    if png:
        code.save(png, scale=8, border=4)
        out.write(f"QR code saved to {png}\n")


def run_login(
    client: ControlClient,
    account: str,
    *,
    new: bool,
    stdout: TextIO,
    stderr: TextIO,
    png: str | None = None,
    interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """The whole login; returns the exit status."""
    try:
        started = client.call("login_start", account=account, new=new)
    except KeyboardInterrupt:  # before any code was shown: nothing to cancel
        print("login cancelled", file=stderr)
        return EXIT_NOT_APPLIED
    login_id = started["login_id"]
    try:
        draw(started["qr_text"], stdout, png=png)
    except OSError as exc:
        client.call("login_cancel", login_id=login_id)
        print(f"error: cannot write the QR code: {exc}", file=stderr)
        return EXIT_ERROR
    stdout.write(
        f"scan it with the Goofish (闲鱼) app of the account's seller before "
        f"{started['expires_at']}; Ctrl-C cancels\n"
    )
    line = _StateLine(stdout)
    try:
        answer = _follow(client, login_id, line, interval=interval, sleep=sleep)
    except KeyboardInterrupt:
        line.end()
        return _cancel(client, login_id, stderr)
    except ControlError:
        line.end()
        raise
    line.end()
    return _report(answer, stdout, stderr)


def _follow(
    client: ControlClient,
    login_id: str,
    line: _StateLine,
    *,
    interval: float,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    shown_message: str | None = None
    while True:
        answer = client.call("login_poll", login_id=login_id)
        state = answer["state"]
        line.show(state)
        message = answer.get("message")
        if state == "verification_required" and message and message != shown_message:
            line.note(redact_text(message))
            shown_message = message
        if state not in _OPEN and not (state == "confirmed" and answer.get("result") is None):
            return answer
        sleep(interval)


def _report(answer: dict[str, Any], stdout: TextIO, stderr: TextIO) -> int:
    state = answer["state"]
    message = redact_text(answer.get("message") or "")
    if state == "confirmed":
        result = answer.get("result") or {}
        print(redact_text(outcome(result)), file=stdout)
        if message:
            print(message, file=stdout)
        return EXIT_APPLIED if result.get("outcome") in _APPLIED else EXIT_NOT_APPLIED
    print(f"login {state}" + (f": {message}" if message else ""), file=stderr)
    return EXIT_NOT_APPLIED if state in ("expired", "cancelled") else EXIT_ERROR


def _cancel(client: ControlClient, login_id: str, stderr: TextIO) -> int:
    try:
        answer = client.call("login_cancel", login_id=login_id)
    except ControlError as exc:
        print(f"could not cancel the login ({exc.code}): {exc.message}", file=stderr)
        return EXIT_ERROR
    if answer["state"] == "cancelled":
        print("login cancelled", file=stderr)
        return EXIT_NOT_APPLIED
    # too late: the phone had confirmed and the cookie is being applied
    print(
        f"the login was already {answer['state']}; it goes on in the service: "
        "see 'ctl status' and 'ctl events'",
        file=stderr,
    )
    return EXIT_ERROR
