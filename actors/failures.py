"""Why a session ended, and how long to wait before the next one. Pure, no I/O.

Each ending is put in a ``FailureClass``; each class has its own back-off so that, for
example, risk control (captcha/punish) waits long and never hammers the token API while a
dropped TCP connection is retried quickly. The attempt counters reset once a session
registers. ``SESSION_EXPIRED`` is terminal: only a new cookie helps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from common.settings import Timings


class FailureClass(StrEnum):
    NETWORK = "network"  # connect/TCP errors, timeouts, liveness verdicts
    AUTH = "auth"  # token refused, /reg refused, token API answered nonsense
    RISK = "risk"  # captcha / punish page from the token API
    SESSION_EXPIRED = "session_expired"  # the login session behind the cookie is dead
    NORMAL_CLOSE = "normal_close"  # the server closed with 1000 after we registered
    # a fresh token differs from the one in use (the zombie guard of PR #290)
    TOKEN_CHANGED = "token_changed"  # noqa: S105 (a name, not a secret)
    CLOSED_BY_US = "closed_by_us"  # we closed it (stop, swap, retire): nothing to do


# Token API outcome kinds (goofish.token.TokenResult.kind) -> failure class.
_TOKEN_KINDS = {
    "token_expired": FailureClass.AUTH,
    "session_expired": FailureClass.SESSION_EXPIRED,
    "risk_control": FailureClass.RISK,
}

_IMMEDIATE = frozenset(
    {FailureClass.NORMAL_CLOSE, FailureClass.TOKEN_CHANGED, FailureClass.CLOSED_BY_US}
)


def classify_token_failure(kind: str, *, network: bool) -> FailureClass:
    """The class of a token fetch that did not succeed."""
    if network:
        return FailureClass.NETWORK
    return _TOKEN_KINDS.get(kind, FailureClass.AUTH)


@dataclass
class RetryPolicy:
    """Consecutive-failure counters per class, turned into delays by ``Timings`` back-offs.

    A normal close or a token change of a session that had been registered for at least one
    heartbeat interval reconnects at once. Otherwise (it never registered, or the server keeps
    closing us right away, e.g. two processes serving one seller and kicking each other) it
    counts as a network failure, so nothing can drive a hot reconnect loop.
    """

    timings: Timings
    attempts: dict[FailureClass, int] = field(default_factory=dict)

    def delay(
        self, failure: FailureClass, *, rand: float, registered_for_s: float | None
    ) -> float | None:
        """Seconds to wait before reconnecting, or None when retrying cannot help.

        ``registered_for_s`` is how long the ended session had been registered (None: never).
        """
        if failure is FailureClass.SESSION_EXPIRED:
            return None
        if failure in _IMMEDIATE:
            if registered_for_s is not None and registered_for_s >= self.timings.heartbeat_s:
                return 0.0
            failure = FailureClass.NETWORK
        backoff = {
            FailureClass.NETWORK: self.timings.network_backoff,
            FailureClass.AUTH: self.timings.auth_backoff,
            FailureClass.RISK: self.timings.risk_backoff,
        }[failure]
        attempt = self.attempts.get(failure, 0)
        self.attempts[failure] = attempt + 1
        return backoff.delay(attempt, rand)

    def reset(self) -> None:
        """A session registered: the next failure starts from the base delay again."""
        self.attempts.clear()
