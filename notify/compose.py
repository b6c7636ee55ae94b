"""From a due group to the notices to enqueue: wording, one per destination, no secrets. Pure.

Accounts with URLs of their own (``ctl set ACCOUNT --notify URL``) hear about themselves
there instead of at the global URLs; a group is split by destination, and each notice
goes to each of its destination's URLs (one outbox row per URL). Every free text that
ends up in a notice (an error, a reason) passes through the same redaction as the logs,
so a cookie value can never be sent out, even by mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from control.redact import redact_text
from notify.kinds import wording
from notify.policy import Group, Member
from storage.outbox import NewNotice

# one line of detail per account up to this many; the rest are listed by id only
DETAIL_LINES: Final = 20
MAX_DETAIL: Final = 300

Destinations = Callable[[str], tuple[str, ...]]


def destinations(
    global_urls: Sequence[str], per_account: Mapping[str, tuple[str, ...]]
) -> Destinations:
    """Where an account's notices go: its own URLs, else the global ones."""
    fallback = tuple(global_urls)
    return lambda account_id: per_account.get(account_id) or fallback


def clean(text: str) -> str:
    """A free text fit for a notice: redacted, on one line, not too long."""
    one_line = " ".join(redact_text(text).split())
    return one_line if len(one_line) <= MAX_DETAIL else one_line[: MAX_DETAIL - 1] + "…"


def title(kind: str, members: Sequence[Member]) -> str:
    words = wording(kind)
    if len(members) == 1:
        return words.one.format(account=members[0].account_id, count=1)
    return words.many.format(account=members[0].account_id, count=len(members))


def body(kind: str, members: Sequence[Member]) -> str:
    words = wording(kind)
    lines = []
    if len(members) > 1:
        lines.append("Accounts: " + ", ".join(m.account_id for m in members))
    for member in members[:DETAIL_LINES]:
        if member.detail:
            lines.append(f"- {member.account_id}: {clean(member.detail)}")
    extra = len(members) - DETAIL_LINES
    if extra > 0 and any(m.detail for m in members[DETAIL_LINES:]):
        lines.append(f"- … and {extra} more")
    if words.hint:
        lines.append(words.hint)
    return "\n".join(lines) or title(kind, members)


def notices(group: Group, where: Destinations) -> list[NewNotice]:
    """The outbox rows of one due group."""
    by_destination: dict[tuple[str, ...], list[Member]] = {}
    for member in sorted(group.members, key=lambda m: m.account_id):
        urls = where(member.account_id)
        if urls:
            by_destination.setdefault(urls, []).append(member)
    out: list[NewNotice] = []
    for urls, members in by_destination.items():
        head, text = title(group.kind, members), body(group.kind, members)
        accounts = tuple(m.account_id for m in members)
        out.extend(NewNotice(group.kind, accounts, head, text, url) for url in urls)
    return out
