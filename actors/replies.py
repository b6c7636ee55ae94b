"""Auto-reply rules: which reply (if any) a buyer's message gets. Pure, no I/O.

Order of precedence: keyword rules for the message's item, then general keyword rules
(``item_id`` None), each by ``order``; a keyword matches as a case-insensitive substring and
the first match wins. An empty reply text means "matched, stay silent". When nothing matched,
the account's default reply applies; whether it is still due in this chat (once per chat) is
the caller's question to the store, because that answer must be persisted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from storage.records import Rule, RuleSet

# Placeholders a reply template may use; anything else in braces is left as typed.
PLACEHOLDERS = ("{buyer_name}", "{buyer_id}", "{text}", "{item_id}")


class ReplyKind(StrEnum):
    RULE = "rule"  # a keyword rule matched (its text may be empty: stay silent)
    DEFAULT = "default"  # nothing matched; the default reply applies
    NONE = "none"  # nothing matched and there is no default reply


@dataclass(frozen=True)
class ReplyChoice:
    """What to answer. ``text`` is rendered; ``once_per_chat`` only matters for DEFAULT."""

    kind: ReplyKind
    text: str = ""
    keyword: str | None = None
    once_per_chat: bool = False

    @property
    def silent(self) -> bool:
        return self.kind is ReplyKind.NONE or not self.text


@dataclass(frozen=True)
class Incoming:
    """The parts of a buyer's message the rules and templates look at."""

    text: str
    buyer_id: str
    buyer_name: str
    item_id: str | None


def render(template: str, incoming: Incoming) -> str:
    """Fill the known placeholders; ``str.format`` is avoided so stray braces are harmless."""
    values = {
        "{buyer_name}": incoming.buyer_name,
        "{buyer_id}": incoming.buyer_id,
        "{text}": incoming.text,
        "{item_id}": incoming.item_id or "",
    }
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    return template


def ordered_rules(rules: Iterable[Rule], item_id: str | None) -> list[Rule]:
    """The rules that apply to ``item_id``: item-specific ones first, then general ones."""
    ordered = sorted(rules, key=lambda rule: rule.order)
    specific = [rule for rule in ordered if item_id and rule.item_id == item_id]
    general = [rule for rule in ordered if not rule.item_id]
    return specific + general


def match_rule(rules: Iterable[Rule], incoming: Incoming) -> Rule | None:
    """The first rule whose keyword occurs in the text (case-insensitive), or None."""
    text = incoming.text.casefold()
    for rule in ordered_rules(rules, incoming.item_id):
        if rule.keyword and rule.keyword.casefold() in text:
            return rule
    return None


def choose_reply(rule_set: RuleSet, incoming: Incoming) -> ReplyChoice:
    """Decide the reply to ``incoming`` under ``rule_set``."""
    rule = match_rule(rule_set.rules, incoming)
    if rule is not None:
        return ReplyChoice(ReplyKind.RULE, render(rule.reply, incoming), keyword=rule.keyword)
    default = rule_set.default_reply
    if default is None or not default.text:
        return ReplyChoice(ReplyKind.NONE)
    return ReplyChoice(
        ReplyKind.DEFAULT, render(default.text, incoming), once_per_chat=default.once_per_chat
    )
