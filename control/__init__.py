"""The control socket: JSON lines over a UNIX socket, its server, client and CLI.

protocol   lines in, requests and responses out (no sockets)
arguments  the commands and the type of each argument
dispatch   a request line -> a supervisor call -> a response line
server     the UNIX socket server (0600, SO_PEERCRED), on its own asyncio loop
client     a blocking client
cli        ``python run.py ctl``
redact     cookie values out of any text (logs, CLI output)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Loaded on first use: ``python run.py ctl`` imports only ``control.cli`` and what it needs
# (the standard library), so it runs even with a Python that lacks the service's packages.
_WHERE = {
    "ControlClient": "control.client",
    "Dispatcher": "control.dispatch",
    "SupervisorApi": "control.dispatch",
    "ControlError": "control.errors",
    "MAX_LINE_BYTES": "control.protocol",
    "redact_text": "control.redact",
    "ControlServer": "control.server",
}

if TYPE_CHECKING:
    from control.client import ControlClient
    from control.dispatch import Dispatcher, SupervisorApi
    from control.errors import ControlError
    from control.protocol import MAX_LINE_BYTES
    from control.redact import redact_text
    from control.server import ControlServer


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'control' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "MAX_LINE_BYTES",
    "ControlClient",
    "ControlError",
    "ControlServer",
    "Dispatcher",
    "SupervisorApi",
    "redact_text",
]
