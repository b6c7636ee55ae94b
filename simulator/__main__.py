"""``python run.py simulator [--host H] [--port P]``: serve until SIGINT/SIGTERM.

Prints exactly one JSON line on stdout,
``{"ws_url": ..., "api_url": ..., "admin_url": ..., "passport_url": ...}``.
HTTP (token + admin API) listens on P and the IM WebSocket on P+1; P = 0 (the default)
picks any free ports. Logs go to stderr, so stdout carries only that line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence

import structlog

from simulator.server import Simulator


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run.py simulator",
        description="A local Goofish server for tests, demo and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=0, help="HTTP port; the WebSocket takes port+1 (0: any free)"
    )
    return parser.parse_args(list(argv))


async def _serve(host: str, port: int) -> None:
    simulator = Simulator()
    urls = await simulator.start(host, port)
    print(json.dumps(urls.as_dict()), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await simulator.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    # stdout is the one-line contract; lifecycle lines go to stderr, per-connection detail is DEBUG
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    try:
        asyncio.run(_serve(args.host, args.port))
    except OSError as exc:
        print(
            f"simulator: cannot listen on {args.host}:{args.port} (HTTP) and the next port "
            f"(WebSocket): {exc}; pick another --port or use --port 0",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
