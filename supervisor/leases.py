"""Cluster mode: what the lease keeper's word does to the supervisor's table (docs/cluster.md).

The keeper (``cluster.keeper``) claims and loses leases on its own thread and tells the
supervisor ``Adopt`` / ``LeaseLost``; a hand-off it wants goes through the normal queue as a
``Release`` request (a graceful ``StopFlow``). Here, on the supervisor's thread: an adopted
account gets an entry (resolving what a dead previous owner left pending) and a generation; a
lost one is cut off at once: its fence trips (no send, ACK or write from here on), its
generation is asked to stop, and whoever waited on it hears that another node takes over.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from actors.messages import Fence
from common.errors import NotFoundError, XianyuSupervisorError
from supervisor.book import AccountBook
from supervisor.effects import Effects
from supervisor.entry import AccountEntry
from supervisor.renewals import Renewals
from supervisor.requests import Adopt, LeaseLost

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ClusterHooks:
    """How the supervisor works as a cluster node: ``lease_valid(account)`` answers from the
    keeper's local deadline (no database call); ``on_added(account)`` tells the keeper that an
    account was added here, so that it claims it soon."""

    lease_valid: Callable[[str], bool]
    on_added: Callable[[str], None]

    def fence_for(self, account_id: str) -> Fence:
        return Fence(lease=functools.partial(self.lease_valid, account_id))


class LeaseSide:
    """Adopts and drops accounts on the keeper's word; used on the supervisor's thread."""

    def __init__(
        self,
        *,
        book: AccountBook,
        effects: Effects,
        entries: dict[str, AccountEntry],
        renewals: Renewals,
        start_later: Callable[[str, float], object],
    ) -> None:
        self._start_later = start_later  # the boot path's rate-limited start (StartDue)
        self._book = book
        self._effects = effects
        self._entries = entries
        self._renewals = renewals

    def adopt(self, message: Adopt) -> None:
        account_id = message.account_id
        if account_id in self._entries:
            return  # already served here (a repeated word)
        try:
            record = self._book.account(account_id)
        except NotFoundError:
            return  # removed meanwhile: the keeper's next renewal lets the lease go
        # a previous owner that died mid-update left its candidate pending: boot's rule
        self._book.fail_interrupted(account_id)
        entry = self._entries[account_id] = self._effects.new_entry(record)
        self._renewals.track(entry)
        self._book.record("lease_claimed", account_id, epoch=message.epoch)
        log.info("lease_claimed", account=account_id, epoch=message.epoch)
        if entry.enabled:
            self._start_later(account_id, message.start_in_s)

    def lost(self, message: LeaseLost) -> None:
        entry = self._entries.get(message.account_id)
        if entry is None:
            return
        child = entry.retire_child()
        if child is not None:
            child.fence.trip()  # closes its sockets now; it may be mid-handler
            child.ref.stop(block=False)
        entry.cancel_pending_restart()
        moved = XianyuSupervisorError(
            f"account {entry.account_id!r} is no longer served by this node "
            f"({message.reason}); another node takes it over: try again in a few seconds"
        )
        if entry.request is not None:
            self._effects.fail_request(entry.request, moved)
        self._effects.end_flow(entry)
        self._effects.drop(entry, delete=False, why=moved)
        self._book.record("lease_lost", entry.account_id, reason=message.reason)
        log.warning("lease_lost", account=entry.account_id, reason=message.reason)
