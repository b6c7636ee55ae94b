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
import sys
from typing import Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from control.redact import REDACTED, is_cookie_key, redact_value

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
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "auto":
        return "console" if _isatty(stream) else "json"
    return fmt  # type: ignore[return-value]


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    return chosen


def reset_logging() -> None:
    """Undo ``configure_logging`` (tests): structlog defaults, our handler removed."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "xianyu"]:
        root.removeHandler(old)
    structlog.reset_defaults()
