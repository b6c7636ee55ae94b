"""Where the lower layers report the few observations that must be made where they happen.

Most metrics are read at scrape time from what the supervisor already keeps (``metrics/``).
Three things can only be seen as they happen: a reply's latency (``actors/delivery.py``), a
token API call's result (``goofish/token.py``) and an operation's outcome with its swap time
(``supervisor/effects.py``). Those layers call the module functions below, one cheap call
each; while no sink is installed (metrics off, the default) the calls do nothing, and no
lower layer imports ``prometheus_client``.

One sink per process: ``install`` replaces the current one, ``uninstall`` removes it only if
it is still the installed one (a second service in one process, as in tests, cannot remove
the first one's).
"""

from __future__ import annotations

from typing import Protocol


class MetricsSink(Protocol):
    """What ``metrics.sink.PrometheusSink`` implements."""

    def reply_sent(self, seconds: float) -> None:
        """A reply's send was confirmed ``seconds`` after its message was taken up."""

    def token_call(self, seller_id: str, result: str) -> None:
        """One token API call for seller ``seller_id`` (the cookie's ``unb``) ended in
        ``result``: a ``TokenResult.kind``, ``network`` or ``cancelled``."""

    def operation_finished(self, operation: str, outcome: str, swap_s: float | None) -> None:
        """An ``update`` or ``rollback`` was answered with ``outcome`` (``applied``,
        ``rolled_back``, ...); ``swap_s``: its make-before-break swap time, if it swapped."""


class _Off:
    """Metrics off: every observation is dropped."""

    def reply_sent(self, seconds: float) -> None:
        pass

    def token_call(self, seller_id: str, result: str) -> None:
        pass

    def operation_finished(self, operation: str, outcome: str, swap_s: float | None) -> None:
        pass


_OFF = _Off()


class _Slot:
    """Holds the installed sink (an attribute swap: no lock, readers see one or the other)."""

    sink: MetricsSink = _OFF


_slot = _Slot()


def install(sink: MetricsSink) -> None:
    _slot.sink = sink


def uninstall(sink: MetricsSink) -> None:
    if _slot.sink is sink:
        _slot.sink = _OFF


def reply_sent(seconds: float) -> None:
    _slot.sink.reply_sent(seconds)


def token_call(seller_id: str, result: str) -> None:
    _slot.sink.token_call(seller_id, result)


def operation_finished(operation: str, outcome: str, swap_s: float | None) -> None:
    _slot.sink.operation_finished(operation, outcome, swap_s)
