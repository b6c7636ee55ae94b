"""The one error type of the control layer: a request answered with an error code.

Codes are the contract of the control socket (issue 6): ``bad_request``,
``unknown_command``, ``not_found``, ``exists``, ``too_large``, ``conflict``, ``internal``.
"""

from __future__ import annotations

from common.errors import (
    AlreadyExistsError,
    ConflictError,
    CookieError,
    InvalidValueError,
    LoginError,
    NotFoundError,
    XianyuSupervisorError,
)

BAD_REQUEST = "bad_request"
UNKNOWN_COMMAND = "unknown_command"
NOT_FOUND = "not_found"
EXISTS = "exists"
TOO_LARGE = "too_large"
CONFLICT = "conflict"
INTERNAL = "internal"
LOGIN_FAILED = "login_failed"  # a QR login could not start (passport unreachable or refusing)
# no service answers on the socket (client side), or it is shutting down (server side)
UNAVAILABLE = "unavailable"

CODES = frozenset(
    {
        BAD_REQUEST,
        UNKNOWN_COMMAND,
        NOT_FOUND,
        EXISTS,
        TOO_LARGE,
        CONFLICT,
        INTERNAL,
        UNAVAILABLE,
        LOGIN_FAILED,
    }
)


class ControlError(XianyuSupervisorError):
    """Raised when a control request is refused, or the service cannot be reached.

    ``code`` is one of the control-socket error codes; the message says what was
    wrong and what to do.
    """

    def __init__(self, code: str, message: str, *, request_id: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # the id of the request this answers, when the line parsed far enough to have one
        self.request_id = request_id

    def __str__(self) -> str:
        return self.message


# checked in order: the most specific type first
_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (ControlError, ""),  # carries its own code
    (NotFoundError, NOT_FOUND),
    (AlreadyExistsError, EXISTS),
    (ConflictError, CONFLICT),
    (CookieError, BAD_REQUEST),
    (InvalidValueError, BAD_REQUEST),
    (LoginError, LOGIN_FAILED),
)

# the other way (an answer that came from another node): the error that maps back to it
_ERRORS: dict[str, type[XianyuSupervisorError]] = {
    NOT_FOUND: NotFoundError,
    EXISTS: AlreadyExistsError,
    CONFLICT: ConflictError,
    LOGIN_FAILED: LoginError,
}


def error_code(exc: BaseException) -> str:
    """The control-socket error code for an exception raised while serving a request."""
    for kind, code in _CODES:
        if isinstance(exc, kind):
            return exc.code if isinstance(exc, ControlError) else code
    return INTERNAL


def error_for(code: str, message: str) -> XianyuSupervisorError:
    """An error that ``error_code`` maps to ``code`` and whose text is ``message``: a
    ``common.errors`` type where one fits, else a ``ControlError`` carrying the code."""
    kind = _ERRORS.get(code)
    if kind is not None:
        return kind(message)
    return ControlError(code if code in CODES else INTERNAL, message)
