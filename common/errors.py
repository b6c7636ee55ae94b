"""The project's exception tree. Every error we raise on purpose is one of these.

    XianyuSupervisorError
    ├── InvalidValueError    an argument out of range or malformed (also a ValueError)
    ├── CookieError          a cookie string that cannot be used (unparseable, no ``unb``)
    ├── NotRunningError      a part used before it started or after it stopped (also a RuntimeError)
    ├── ProtocolError        a frame or push payload that does not decode
    ├── TokenError           the token API could not be reached or answered nonsense
    ├── LoginError           a QR login could not be started (passport unreachable or refusing)
    ├── ConflictError        a request that contradicts the current state (another seller's cookie)
    │   └── NodeIdInUseError a live cluster node already has this node id
    └── StorageError         the database failed; ``operation`` says what was being done
        ├── NotFoundError    no such account / version
        │   ├── AccountNotFoundError
        │   └── VersionNotFoundError
        ├── AlreadyExistsError
        └── LeaseLostError   cluster mode: this node no longer holds the account's lease

Each error keeps its data as attributes (``reason``, and where there is one the ``account``,
the ``operation`` that failed and a ``hint`` saying what to do next) and ``__str__`` builds
the sentence from them, in the style of websockets' ``exceptions.py``: a caller acts on
``exc.account`` or ``exc.reason`` and never parses the text. ``reason`` is always the first
positional argument, so ``SomeError("what is wrong")`` works for every class.

Third-party exceptions are translated into these at exactly one boundary each
(peewee in ``storage/``, websockets/aiohttp in the connection layer), with ``raise ... from``.
"""

from __future__ import annotations

from typing import Final

# What ``InvalidValueError`` shows when no value was given (``None`` is a value).
_UNSET: Final = object()


class XianyuSupervisorError(Exception):
    """Root of every error this project raises on purpose.

    The sentence is ``"<operation> failed: <reason>; <hint>"``, each part only when given.
    """

    def __init__(
        self,
        reason: str,
        *,
        account: str | None = None,
        operation: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.account = account
        self.operation = operation
        self.hint = hint

    def __reduce__(self) -> tuple[object, ...]:
        # the constructors differ per class; rebuild from the attributes (pickle, copy)
        return (_restore, (type(self), self.args, dict(self.__dict__)))

    def headline(self) -> str:
        """The sentence without the hint; subclasses with more data override this."""
        return f"{self.operation} failed: {self.reason}" if self.operation else self.reason

    def __str__(self) -> str:
        headline = self.headline()
        return f"{headline}; {self.hint}" if self.hint else headline


def _restore(
    cls: type[XianyuSupervisorError], args: tuple[object, ...], state: dict[str, object]
) -> XianyuSupervisorError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class InvalidValueError(XianyuSupervisorError, ValueError):
    """Raised when an argument is out of range or malformed.

    ``field`` names the argument, ``expected`` says what it must be, ``value`` is what it was
    (left out of the sentence when not given, e.g. for a value too large to show).
    """

    def __init__(
        self, field: str, expected: str, *, value: object = _UNSET, hint: str | None = None
    ) -> None:
        self.field = field
        self.expected = expected
        self.value = None if value is _UNSET else value
        got = "" if value is _UNSET else f", got {value!r}"
        super().__init__(f"{field} must be {expected}{got}", hint=hint)


class CookieError(XianyuSupervisorError, ValueError):
    """Raised when a cookie string cannot be used for an account."""


class NotRunningError(XianyuSupervisorError, RuntimeError):
    """Raised when a part (the service, the supervisor, the I/O loop) is used while not running."""


class ProtocolError(XianyuSupervisorError):
    """Raised when a frame or a push payload from the IM server does not decode.

    ``field`` is the dotted path of the offending field and ``where`` the item it sits in
    (``"item 3 of push 12"``), when known.
    """

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        where: str | None = None,
        account: str | None = None,
    ) -> None:
        super().__init__(reason, account=account)
        self.field = field
        self.where = where

    def headline(self) -> str:
        text = f"field {self.field!r} {self.reason}" if self.field else self.reason
        return f"{self.where}: {text}" if self.where else text

    def at(self, where: str) -> ProtocolError:
        """The same error, placed in ``where`` (an item of a push or a list answer)."""
        placed = ProtocolError(self.reason, field=self.field, where=where, account=self.account)
        if self.where:
            placed.where = f"{where}: {self.where}"
        placed.__cause__ = self
        return placed


class TokenError(XianyuSupervisorError):
    """Raised when the token API cannot be reached or answers something unusable."""


class LoginError(XianyuSupervisorError):
    """Raised when a QR-code login cannot be started; the message says why."""


class ConflictError(XianyuSupervisorError):
    """Raised when a request contradicts the current state (e.g. another seller's cookie)."""


class NodeIdInUseError(ConflictError):
    """Raised when a cluster node registers under the id of a node that is still alive.

    ``heartbeat_age_s`` is how long ago (database clock) the other node last beat.
    """

    def __init__(
        self,
        node_id: str,
        *,
        host: str = "",
        pid: int = 0,
        data_dir: str = "",
        heartbeat_age_s: float = 0.0,
    ) -> None:
        super().__init__(
            f"node id {node_id!r} is in use by a live node (host {host!r}, pid {pid}, "
            f"data dir {data_dir!r}, last heartbeat {heartbeat_age_s:.1f}s ago)",
            hint="stop that node, or give this one another --node-id (env XIANYU_NODE_ID)",
        )
        self.node_id = node_id
        self.host = host
        self.pid = pid
        self.data_dir = data_dir
        self.heartbeat_age_s = heartbeat_age_s


class StorageError(XianyuSupervisorError):
    """Raised when the database fails; ``operation`` says what was being done.

    ``database`` is the database's description (never its password), when the failure
    came from it: ``"<operation> failed on <database>: <reason>"``.
    """

    def __init__(
        self,
        reason: str,
        *,
        operation: str | None = None,
        database: str | None = None,
        account: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(reason, account=account, operation=operation, hint=hint)
        self.database = database

    def headline(self) -> str:
        if self.operation and self.database:
            return f"{self.operation} failed on {self.database}: {self.reason}"
        return super().headline()


class NotFoundError(StorageError, LookupError):
    """Raised when an account or cookie version does not exist."""


class AccountNotFoundError(NotFoundError):
    """Raised when no account has the id ``account``."""

    def __init__(self, account: str) -> None:
        super().__init__(
            f"account {account!r} not found",
            account=account,
            hint="run 'ctl status' to list accounts",
        )


class VersionNotFoundError(NotFoundError):
    """Raised when ``account`` has no cookie version ``number``."""

    def __init__(self, account: str, number: int) -> None:
        super().__init__(
            f"cookie version {number} of account {account!r} not found",
            account=account,
            hint=f"run 'ctl history {account}' to list its versions",
        )
        self.number = number


class AlreadyExistsError(StorageError):
    """Raised when creating an account whose id is taken."""


class LeaseLostError(StorageError):
    """Raised by a fenced write when this node no longer holds the account's lease.

    Nothing was written; ``node_id`` and ``epoch`` are what this node believed it held.
    """

    def __init__(self, account: str, *, node_id: str, epoch: int | None) -> None:
        held = f"epoch {epoch}" if epoch is not None else "no epoch held"
        super().__init__(
            f"account {account!r} is no longer leased by node {node_id} ({held}): "
            "another node serves it now",
            account=account,
        )
        self.node_id = node_id
        self.epoch = epoch
