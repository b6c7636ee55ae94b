"""The project's exception tree. Every error we raise on purpose is one of these.

    XianyuSupervisorError
    ├── CookieError          a cookie string that cannot be used (unparseable, no ``unb``)
    ├── ProtocolError        a frame or push payload that does not decode
    ├── TokenError           the token API could not be reached or answered nonsense
    ├── LoginError           a QR login could not be started (passport unreachable or refusing)
    ├── ConflictError        a request that contradicts the current state (another seller's cookie)
    └── StorageError         the database failed; the message says what was being done
        ├── NotFoundError    no such account / version
        └── AlreadyExistsError

Third-party exceptions are translated into these at exactly one boundary each
(peewee in ``storage/``, websockets/aiohttp in the connection layer), with ``raise ... from``.
Messages name the thing and say what to do next.
"""

from __future__ import annotations


class XianyuSupervisorError(Exception):
    """Root of every error this project raises on purpose."""


class CookieError(XianyuSupervisorError, ValueError):
    """Raised when a cookie string cannot be used for an account."""


class ProtocolError(XianyuSupervisorError):
    """Raised when a frame or a push payload from the IM server does not decode."""


class TokenError(XianyuSupervisorError):
    """Raised when the token API cannot be reached or answers something unusable."""


class LoginError(XianyuSupervisorError):
    """Raised when a QR-code login cannot be started; the message says why."""


class ConflictError(XianyuSupervisorError):
    """Raised when a request contradicts the current state (e.g. another seller's cookie)."""


class StorageError(XianyuSupervisorError):
    """Raised when the database fails; the message says which operation failed."""


class NotFoundError(StorageError, LookupError):
    """Raised when an account or cookie version does not exist."""


class AlreadyExistsError(StorageError):
    """Raised when creating an account whose id is taken."""
