"""A blocking client of the control socket, used by the CLI, tests and scripts.

with ControlClient(path) as client:
    client.call("status")          # -> the result dict, or raises ControlError
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from control.errors import BAD_REQUEST, UNAVAILABLE, ControlError
from control.protocol import MAX_LINE_BYTES, request_line

# long enough for an update that waits out its probation and a rollback after it
DEFAULT_TIMEOUT_S = 120.0
# responses (a long event list) may be bigger than requests
MAX_RESPONSE_BYTES = 64 * MAX_LINE_BYTES


class ControlClient:
    """One connection to a running service; requests are sent one at a time."""

    def __init__(self, path: Path | str, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._path = Path(path)
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._ids = itertools.count(1)

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one request and return its ``result``; raises ``ControlError`` with the code."""
        response = self.request(cmd, **args)
        if response.get("ok") is True:
            result = response.get("result")
            return result if isinstance(result, dict) else {}
        error = response.get("error") or {}
        raise ControlError(
            str(error.get("code", "internal")), str(error.get("message", "request failed"))
        )

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        """Send one request and return the whole response object (``ok`` true or false)."""
        request_id = next(self._ids)
        self.send_raw(request_line(request_id, cmd, args))
        return self.read_response()

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (tests use this for malformed input)."""
        try:
            self._connect().sendall(data)
        except OSError as exc:
            self.close()
            raise ControlError(UNAVAILABLE, f"lost the connection to {self._path}: {exc}") from exc

    def read_response(self) -> dict[str, Any]:
        """Read the next response line."""
        line = self._read_line()
        try:
            response = json.loads(line)
        except ValueError as exc:
            raise ControlError(
                BAD_REQUEST, f"the service answered something that is not JSON: {exc}"
            ) from exc
        if not isinstance(response, dict):
            raise ControlError(
                BAD_REQUEST, "the service answered something that is not a JSON object"
            )
        return response

    def _connect(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self._timeout)
        try:
            self._connect_retrying(sock)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise ControlError(
                UNAVAILABLE,
                f"no service is listening on {self._path}; start it with 'python run.py serve' "
                "or point --data-dir/--socket at the running one",
            ) from exc
        except PermissionError as exc:
            sock.close()
            raise ControlError(
                UNAVAILABLE, f"not allowed to open {self._path}; run as the service's user"
            ) from exc
        except OSError as exc:
            sock.close()
            raise ControlError(UNAVAILABLE, f"cannot connect to {self._path}: {exc}") from exc
        self._sock = sock
        return sock

    def _connect_retrying(self, sock: socket.socket) -> None:
        # A UNIX socket with a timeout is non-blocking inside: when the service's accept
        # backlog is full, connect() fails with EAGAIN at once instead of waiting its turn.
        deadline = time.monotonic() + self._timeout
        pause = 0.005
        while True:
            try:
                sock.connect(str(self._path))
                return
            except BlockingIOError:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.1)

    def _read_line(self) -> bytes:
        sock = self._connect()
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                return line
            if len(self._buffer) > MAX_RESPONSE_BYTES:
                self.close()
                raise ControlError(BAD_REQUEST, "the service's response is too large to read")
            try:
                chunk = sock.recv(64 * 1024)
            except TimeoutError as exc:
                self.close()
                raise ControlError(
                    UNAVAILABLE,
                    f"no answer from the service within {self._timeout:g}s; "
                    "check 'events' for the outcome, or raise --timeout",
                ) from exc
            except OSError as exc:
                self.close()
                raise ControlError(
                    UNAVAILABLE, f"lost the connection to {self._path}: {exc}"
                ) from exc
            if not chunk:
                self.close()
                raise ControlError(
                    UNAVAILABLE,
                    f"the service at {self._path} closed the connection "
                    "(it is shutting down, or your user may not use this socket)",
                )
            self._buffer += chunk
