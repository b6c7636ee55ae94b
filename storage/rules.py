"""Reply rules, the default reply, and the per-chat record of default replies sent."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from storage.clock import now_ms
from storage.core import StoreCore, account_not_found
from storage.records import DefaultReply, Rule, RuleSet


def as_rule(rule: Rule | Mapping[str, Any]) -> Rule:
    """A Rule from a Rule or from its dict form (as the control socket sends it)."""
    rule = rule if isinstance(rule, Rule) else Rule(**rule)
    if not rule.keyword:
        raise ValueError(f"a reply rule needs a keyword (rule replying {rule.reply!r})")
    return rule


def as_default_reply(default: DefaultReply | Mapping[str, Any] | str | None) -> DefaultReply | None:
    if default is None or isinstance(default, DefaultReply):
        return default
    if isinstance(default, str):
        return DefaultReply(default)
    return DefaultReply(**default)


class RuleOps(StoreCore):
    def get_rules(self, account_id: str) -> RuleSet:
        """The account's rules, ordered by ``order`` then as given; one consistent snapshot."""
        with self._locked(f"reading the reply rules of {account_id!r}") as m:
            head = m.RuleSetRow.get_or_none(m.RuleSetRow.account == account_id)
            if head is None:
                self._require_account(account_id)
                return RuleSet()
            rows = (
                m.RuleRow.select()
                .where(m.RuleRow.account == account_id)
                .order_by(m.RuleRow.sort_order, m.RuleRow.position)
            )
            rules = tuple(
                Rule(keyword=r.keyword, reply=r.reply, item_id=r.item_id, order=r.sort_order)
                for r in rows
            )
            default = (
                None
                if head.default_text is None
                else DefaultReply(head.default_text, once_per_chat=bool(head.default_once))
            )
            return RuleSet(rules=rules, default_reply=default, revision=head.revision)

    def set_rules(
        self,
        account_id: str,
        rules: Iterable[Rule | Mapping[str, Any]],
        default_reply: DefaultReply | Mapping[str, Any] | str | None = None,
    ) -> RuleSet:
        """Replace all rules and the default reply at once; bumps the revision."""
        new_rules = [as_rule(rule) for rule in rules]
        default = as_default_reply(default_reply)
        with self._write(f"replacing the reply rules of {account_id!r}") as m:
            self._require_account(account_id)
            m.RuleRow.delete().where(m.RuleRow.account == account_id).execute()
            if new_rules:
                m.RuleRow.insert_many(
                    [
                        {
                            "account": account_id,
                            "position": position,
                            "keyword": rule.keyword,
                            "reply": rule.reply,
                            "item_id": rule.item_id,
                            "sort_order": rule.order,
                        }
                        for position, rule in enumerate(new_rules)
                    ]
                ).execute()
            head = {
                m.RuleSetRow.default_text: None if default is None else default.text,
                m.RuleSetRow.default_once: True if default is None else default.once_per_chat,
            }
            first = {m.RuleSetRow.account: account_id, m.RuleSetRow.revision: 1, **head}
            m.RuleSetRow.insert(first).on_conflict(
                conflict_target=[m.RuleSetRow.account],
                update={m.RuleSetRow.revision: m.RuleSetRow.revision + 1, **head},
            ).execute()
        return self.get_rules(account_id)

    def claim_default_reply(self, account_id: str, chat_id: str) -> bool:
        """True the first time for this chat (send the default reply), False afterwards."""
        with self._write(
            f"claiming the default reply of {account_id!r} in chat {chat_id!r}",
            on_integrity=lambda: account_not_found(account_id),
        ) as m:
            query = m.DefaultReplyClaim.insert(
                account=account_id, chat_id=chat_id, claimed_ms=now_ms()
            ).on_conflict_ignore()
            return bool(query.as_rowcount().execute())
