"""The one error type of the control layer: a request answered with an error code.

Codes are the contract of the control socket (issue 6): ``bad_request``,
``unknown_command``, ``not_found``, ``exists``, ``too_large``, ``conflict``, ``internal``.
"""

from __future__ import annotations

from common.errors import XianyuSupervisorError

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
