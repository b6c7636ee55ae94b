#!/usr/bin/env python3
"""Start xianyu-supervisor.

    python run.py [serve] [options]     the service (default)
    python run.py simulator [options]   a local Goofish server for tests, demo and benchmarks
    python run.py ctl <command> ...     talk to a running service through its control socket
    python run.py demo                  simulator + service in one process, a 30-second tour
    python run.py web-token [--rotate]  the web page's login URL; --rotate replaces its token
    python run.py config [options]      the effective configuration (serve's options), redacted

Each subcommand lives in its own module; this file only dispatches.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("service.cli", "main"),
    "simulator": ("simulator.__main__", "main"),
    "ctl": ("control.cli", "main"),
    "demo": ("service.demo", "main"),
    "web-token": ("web.cli", "main"),
    "config": ("service.cli", "print_config"),
}


def _load(module: str, attr: str) -> Callable[[Sequence[str]], int]:
    import importlib

    return getattr(importlib.import_module(module), attr)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    name = "serve"
    if args and args[0] in SUBCOMMANDS:
        name = args.pop(0)
    module, attr = SUBCOMMANDS[name]
    return int(_load(module, attr)(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
