"""Logging, configured once for the whole process: structlog in front, stdlib routed through.

Every line goes through the same chain (structlog's own events and stdlib records
from pykka, websockets, aiohttp alike): level, logger name, timestamp, exception
text, then ``redact_secrets`` as the last step before rendering, so a cookie value
that slipped into an event, a message or a traceback never reaches the output.
Console rendering on a tty, one JSON object per line otherwise.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from common.errors import InvalidValueError
from common.redact import REDACTED, is_cookie_key, redact_text, redact_value

LogFormat = Literal["console", "json"]
FORMATS = ("auto", "console", "json")
ENV_LOG_FORMAT = "XIANYU_LOG_FORMAT"

# libraries that narrate every frame at INFO/DEBUG
_QUIET = {
    "websockets": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    "asyncio": logging.WARNING,
    # their debug lines carry whole notification URLs (secrets: apprise's own, and the
    # request lines of the HTTP client under it); their warnings name hosts only
    "apprise": logging.WARNING,
    "urllib3": logging.WARNING,
}


_active: list[LogFormat] = []  # the format of the last configure_logging, if any


def active_format() -> LogFormat | None:
    """The format ``configure_logging`` chose last (None before it ran, or after a reset)."""
    return _active[-1] if _active else None


# the loggers websockets writes to (``websockets.{client,server}``, see its protocol.py)
WEBSOCKETS_LOGGERS = ("websockets", "websockets.client", "websockets.server")
# a handshake header line at DEBUG: "> Cookie: k=v; ..." (the value is the login)
_SECRET_HEADER = re.compile(
    r"^([<>] (?:cookie|set-cookie|authorization|proxy-authorization): ).*$", re.IGNORECASE
)
# a frame line at DEBUG: "> TEXT '{...}' [412 bytes]"; a /reg frame carries the IM token,
# and websockets elides the middle of long frames, so a key may be cut off while a piece
# of its value is shown: the whole payload goes
_REG_FRAME = re.compile(r"^([<>] (?:TEXT|BINARY) ).*/reg.*?( \[[^\]]*\])?$", re.DOTALL)
_TOKEN_VALUE = re.compile(r'("(?:token|accessToken)"\s*:\s*")[^"]*')


class WebsocketsSecretsFilter(logging.Filter):
    """Keeps the Cookie header and the ``/reg`` token out of websockets' DEBUG lines.

    websockets logs every handshake header and every frame at DEBUG. The service keeps
    that logger at WARNING, but anyone turning it up to debug a connection would see the
    login cookie and the IM token: this filter rewrites such records in place (message
    redacted, arguments merged into it) on the loggers websockets uses, so every handler
    sees the redacted text. It never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = redact_websockets_line(text)
        if redacted != text or record.args:
            record.msg, record.args = redacted, ()
        return True


def redact_websockets_line(text: str) -> str:
    """One websockets log message with its secrets replaced by ``<redacted>``."""
    text = _SECRET_HEADER.sub(r"\1" + REDACTED, text)
    text = _REG_FRAME.sub(lambda m: f"{m.group(1)}<redacted /reg frame>{m.group(2) or ''}", text)
    text = _TOKEN_VALUE.sub(r"\1" + REDACTED, text)
    return redact_text(text)


_WEBSOCKETS_FILTER = WebsocketsSecretsFilter("xianyu-secrets")


def install_websockets_filter() -> None:
    """Attach the filter to websockets' loggers (idempotent; ``configure_logging`` calls it)."""
    for name in WEBSOCKETS_LOGGERS:
        logger = logging.getLogger(name)
        if _WEBSOCKETS_FILTER not in logger.filters:
            logger.addFilter(_WEBSOCKETS_FILTER)


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Processor: replace cookie values anywhere in the event (fields, text, tracebacks)."""
    for key, value in event_dict.items():
        if is_cookie_key(key) and isinstance(value, str):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(value)
    return event_dict


def resolve_format(requested: str | None, stream: TextIO) -> LogFormat:
    """``auto`` (or nothing) means console on a terminal and JSON everywhere else."""
    fmt = (requested or os.environ.get(ENV_LOG_FORMAT) or "auto").strip().lower()
    if fmt not in FORMATS:
        raise InvalidValueError("the log format", f"one of {', '.join(FORMATS)}", value=fmt)
    if fmt == "auto":
        return "console" if _isatty(stream) else "json"
    return fmt  # type: ignore[return-value]


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class LevelCheckedBoundLogger(structlog.stdlib.BoundLogger):
    """structlog's stdlib logger, asking the stdlib logger's level before anything else for
    ``debug`` and ``info``: a call below the configured level (the hot path's per-message
    ``debug`` lines) returns before building the event (~0.3 µs instead of ~2 µs through the
    processor chain up to ``filter_by_level``, issue 15 §3)."""

    def debug(self, event: str | None = None, *args: object, **kw: object) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            super().debug(event, *args, **kw)

    def info(self, event: str | None = None, *args: object, **kw: object) -> None:
        if self._logger.isEnabledFor(logging.INFO):
            super().info(event, *args, **kw)


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(fmt: LogFormat, stream: TextIO) -> Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer(ensure_ascii=False, default=str)
    return structlog.dev.ConsoleRenderer(
        colors=_isatty(stream), exception_formatter=structlog.dev.plain_traceback
    )


def configure_logging(
    fmt: str | None = None, *, stream: TextIO | None = None, level: int | str = logging.INFO
) -> LogFormat:
    """Configure structlog and the stdlib root logger; returns the format chosen.

    Calling it again replaces the previous configuration (tests do), it never stacks handlers.
    """
    stream = stream or sys.stderr
    chosen = resolve_format(fmt, stream)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            # exceptions become text here so the redaction below sees them too
            structlog.processors.format_exc_info,
            redact_secrets,
            _renderer(chosen, stream),
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name("xianyu")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "xianyu"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet_level in _QUIET.items():
        logging.getLogger(name).setLevel(quiet_level)
    install_websockets_filter()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=LevelCheckedBoundLogger,
        cache_logger_on_first_use=False,
    )
    _active[:] = [chosen]
    return chosen


def route_to_stdlib() -> None:
    """structlog into stdlib ``logging`` with no handler of ours: for code that never called
    ``configure_logging`` (tests, library use).

    structlog's own default prints every event to ``sys.stdout`` from whatever thread logs;
    an actor thread logging between two tests then lands in pytest's progress output. Routed
    to ``logging``, records go wherever the host set up (pytest captures them per test).
    """
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.processors.format_exc_info,
            # no redaction, as structlog's own default: the test suite's secrets guard must
            # see raw text (the service itself always runs configure_logging, which redacts)
            structlog.processors.KeyValueRenderer(key_order=["event"], sort_keys=True),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def reset_logging() -> None:
    """Undo ``configure_logging`` (tests): our handler removed, structlog routed to stdlib."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "xianyu"]:
        root.removeHandler(old)
    for name in WEBSOCKETS_LOGGERS:
        logging.getLogger(name).removeFilter(_WEBSOCKETS_FILTER)
    route_to_stdlib()
    _active.clear()
