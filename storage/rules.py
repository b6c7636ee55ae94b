"""Reply rules, the default reply, and the per-chat record of default replies sent.

``get_rules`` and ``claim_default_reply`` run for every incoming message, so they are
written out as SQL (as in ``storage.delivery``): building them with peewee's query builder
and model instances cost ten times as much as running them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from common.errors import InvalidValueError
from storage.clock import now_ms
from storage.core import StoreCore, account_not_found
from storage.records import DefaultReply, Rule, RuleSet


def as_rule(rule: Rule | Mapping[str, Any]) -> Rule:
    """A Rule from a Rule or from its dict form (as the control socket sends it)."""
    if not isinstance(rule, Rule):
        try:
            rule = Rule(**rule)
        except TypeError as exc:  # a missing or unknown field: the caller's mistake, said so
            raise InvalidValueError(
                "a reply rule", "an object with 'keyword', 'reply', 'item_id' and 'order'"
            ) from exc
    if not rule.keyword:
        raise InvalidValueError(
            f"the keyword of the rule replying {rule.reply!r}", "a non-empty text", value=""
        )
    return rule


def as_default_reply(default: DefaultReply | Mapping[str, Any] | str | None) -> DefaultReply | None:
    if default is None or isinstance(default, DefaultReply):
        return default
    if isinstance(default, str):
        return DefaultReply(default)
    try:
        return DefaultReply(**default)
    except TypeError as exc:
        raise InvalidValueError(
            "the default reply", "a text or an object with 'text' and 'once_per_chat'"
        ) from exc


_RULE_SET = "SELECT revision, default_text, default_once FROM rule_set WHERE account_id = ?"
_RULES = (
    "SELECT keyword, reply, item_id, sort_order FROM reply_rule WHERE account_id = ? "
    "ORDER BY sort_order, position"
)
_CLAIM = (
    "INSERT INTO default_reply_claim (account_id, chat_id, claimed_ms) VALUES (?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


def _rule_set(head: tuple[Any, ...], rows: list[tuple[Any, ...]]) -> RuleSet:
    revision, default_text, default_once = head
    rules = tuple(
        Rule(keyword=keyword, reply=reply, item_id=item_id, order=order)
        for keyword, reply, item_id, order in rows
    )
    default = (
        None
        if default_text is None
        else DefaultReply(default_text, once_per_chat=bool(default_once))
    )
    return RuleSet(rules=rules, default_reply=default, revision=revision)


class RuleOps(StoreCore):
    def get_rules(self, account_id: str) -> RuleSet:
        """The account's rules, ordered by ``order`` then as given; one consistent snapshot.

        Served from memory after the first read: ``set_rules`` and ``remove_account`` drop
        the cached set under the lock, so a change applies to the very next call.
        """
        cached = self._rules_cache.get(account_id)
        if cached is not None:
            self._check_open(f"reading the reply rules of {account_id!r}")
            return cached
        # one transaction: the rules and their revision come from the same snapshot
        with self._locked(f"reading the reply rules of {account_id!r}", transaction=True):
            head = self._db.execute_sql(self._sql(_RULE_SET), (account_id,)).fetchone()
            if head is None:
                self._require_account(account_id)
                rule_set = self._rules_cache[account_id] = RuleSet()
                return rule_set
            rows = self._db.execute_sql(self._sql(_RULES), (account_id,)).fetchall()
            rule_set = self._rules_cache[account_id] = _rule_set(head, rows)
        return rule_set

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
            self._rules_cache.pop(account_id, None)
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
        with self._hot_write(
            f"claiming the default reply of {account_id!r} in chat {chat_id!r}",
            account_id,
            on_integrity=lambda: account_not_found(account_id),
        ):
            return self._execute(_CLAIM, (account_id, chat_id, now_ms())) > 0
