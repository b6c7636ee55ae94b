"""``SupervisorClient``: the thread-safe, blocking facade over the supervisor actor.

Used by the control socket, the demo, tests and benches. Each lifecycle method tells the
supervisor a request carrying a ``concurrent.futures.Future`` and waits on it (with a
timeout derived from the timings); the supervisor completes it when the outcome is known.
Reads that need no supervision (history, events, rules) and plain setting writes go
straight to the ``Store``, which is thread-safe. Results are plain JSON-able dicts shaped
as the control socket's results; errors are ``common.errors`` types.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pykka

from actors.budget import LoginBudget
from actors.replies import Incoming, ReplyKind, choose_reply, match_rule
from common.errors import InvalidValueError, NotRunningError, XianyuSupervisorError
from common.proxy import proxy_label
from common.secret_urls import url_label
from common.settings import Timings
from storage import AccountRecord, DefaultReply, Rule, RuleSet, Store
from supervisor import requests as rq

# who "sends" a rules preview's text: what {buyer_name} and {buyer_id} become in it
PREVIEW_BUYER_NAME = "buyer"
PREVIEW_BUYER_ID = "0"


class SupervisorClient:
    """Blocking calls into one running ``SupervisorActor``; safe to share between threads."""

    def __init__(
        self,
        ref: pykka.ActorRef[Any],
        store: Store,
        timings: Timings,
        *,
        login_budget: LoginBudget | None = None,
    ) -> None:
        self._ref = ref
        self._store = store
        self._timings = timings
        self._budget = login_budget

    @property
    def actor_ref(self) -> pykka.ActorRef[Any]:
        return self._ref

    # --- lifecycle --------------------------------------------------------------------------

    def add(
        self,
        account_id: str,
        cookie: str,
        *,
        enabled: bool = True,
        remark: str = "",
        proxy: str = "",
    ) -> dict[str, Any]:
        """``proxy``: the URL its token calls and WebSocket go through ('' = direct)."""
        request = rq.Add(account_id, cookie=cookie, enabled=enabled, remark=remark, proxy=proxy)
        return self._call(request)

    def remove(self, account_id: str) -> dict[str, Any]:
        return self._call(rq.Remove(account_id))

    def enable(self, account_id: str) -> dict[str, Any]:
        return self._call(rq.Enable(account_id))

    def disable(self, account_id: str) -> dict[str, Any]:
        return self._call(rq.Disable(account_id))

    def update(
        self,
        account_id: str,
        cookie: str,
        *,
        save: bool = True,
        force: bool = False,
        wait: bool = True,
    ) -> dict[str, Any]:
        """Swap the account onto ``cookie`` with probation; see the issue-6 ``update`` result."""
        request = rq.Update(account_id, cookie=cookie, save=save, force=force, wait=wait)
        return self._call(request)

    def restart(self, account_id: str, *, wait: bool = True) -> dict[str, Any]:
        return self._call(rq.Restart(account_id, wait=wait))

    def kill(self, account_id: str) -> dict[str, Any]:
        return self._call(rq.Kill(account_id))

    def rollback(self, account_id: str, to_version: int | None = None) -> dict[str, Any]:
        return self._call(rq.Rollback(account_id, to_version=to_version))

    def renew(self, account_id: str) -> dict[str, Any]:
        """Renew the login session now; answered like ``update``, plus ``renewal`` (what the
        passport ladder did: ``renewed``, ``fatigue``, ``refused``, ...)."""
        # the passport ladder (up to three calls) runs before the update's own worst case
        timeout = self._default_timeout() + 3 * self._timings.token_timeout_s
        return self._call(rq.Renew(account_id), timeout=timeout)

    def freeze(self, account_id: str, seconds: float) -> dict[str, Any]:
        """Test/demo hook: block the account's current generation for ``seconds``."""
        return self._call(rq.FreezeChild(account_id, seconds=seconds))

    def status(self, account_id: str | None = None) -> dict[str, Any]:
        result = self._call(rq.Status(account_id))
        for row in result["accounts"]:  # login calls left this hour (None: no budget)
            row["login_budget_left"] = self._budget.left(row["id"]) if self._budget else None
        return result

    def observe(self, *, timeout: float = 10.0) -> dict[str, Any]:
        """``{"accounts": [row]}``: each ``status`` row plus ``serving``, ``reconnects_by``
        and ``restarts_by`` (what the metrics read at scrape time)."""
        return self._call(rq.Observe(), timeout=timeout)

    def alive(self, *, timeout: float = 2.0) -> bool:
        """Whether the supervisor answers within ``timeout`` (the health check)."""
        try:
            self._ref.ask(rq.Ping(), timeout=timeout)
        except (pykka.ActorDeadError, pykka.Timeout):
            return False
        return True

    def shutdown(self, timeout: float | None = None) -> dict[str, Any]:
        """Stop every child in parallel within ``timeout`` (default: stop_timeout), then stop."""
        deadline = self._timings.stop_timeout_s if timeout is None else timeout
        if not self._ref.is_alive():
            return {"outcome": "stopped", "killed": 0, "stop_ms": 0.0}
        result = self._call(rq.Shutdown(deadline), timeout=deadline + 10.0)
        self._ref.stop(block=True, timeout=10.0)
        return result

    # --- reads and settings, straight to the store -------------------------------------------

    def history(self, account_id: str, limit: int = 20) -> dict[str, Any]:
        versions = self._store.history(account_id, limit=limit)
        return {
            "versions": [
                {
                    "version": v.number,
                    "fingerprint": v.fingerprint,
                    "status": v.status,
                    "source": v.source,
                    "created_at": v.created_at.isoformat(),
                    "reason": v.reason or None,
                }
                for v in versions
            ]
        }

    def events(
        self,
        account_id: str | None = None,
        limit: int = 100,
        since: datetime | float | str | None = None,
    ) -> dict[str, Any]:
        if isinstance(since, str):
            since = datetime.fromisoformat(since)
        records = self._store.events(account_id, limit=limit, since=since)
        return {
            "events": [
                {"at": e.at.isoformat(), "account": e.account_id, "kind": e.kind, "data": e.data}
                for e in records
            ]
        }

    def rules(self, account_id: str) -> dict[str, Any]:
        ruleset = self._store.get_rules(account_id)
        default = ruleset.default_reply
        return {
            "rules": [
                {"keyword": r.keyword, "reply": r.reply, "item_id": r.item_id}
                for r in ruleset.rules
            ],
            "default_reply": (
                None
                if default is None
                else {"text": default.text, "once_per_chat": default.once_per_chat}
            ),
        }

    def set_rules(
        self,
        account_id: str,
        rules: Iterable[Mapping[str, Any] | Rule],
        default_reply: Mapping[str, Any] | DefaultReply | None = None,
    ) -> dict[str, Any]:
        """Replace the rules atomically; children read them from the store (no restart)."""
        parsed = [_rule(r, order) for order, r in enumerate(rules)]
        self._store.set_rules(account_id, parsed, _default_reply(default_reply))
        return self.rules(account_id)

    def account(self, account_id: str) -> dict[str, Any]:
        """One account's stored fields (remark, pause minutes, ...), the ``set`` result's shape."""
        return {"account": account_dict(self._store.get_account(account_id))}

    def rules_preview(
        self,
        account_id: str,
        text: str,
        *,
        item_id: str | None = None,
        rules: Iterable[Mapping[str, Any] | Rule] | None = None,
        default_reply: Mapping[str, Any] | DefaultReply | None = None,
    ) -> dict[str, Any]:
        """Which rule answers ``text`` (on ``item_id``), by the account's own matching
        (``actors.replies``): under the saved rules, or under a draft ``rules`` list (with
        its ``default_reply``) that is not saved. ``rule_index`` counts in that list."""
        if rules is None:
            ruleset = self._store.get_rules(account_id)
            listed = list(ruleset.rules)
            default = ruleset.default_reply
        else:
            self._store.get_account(account_id)  # NotFoundError for an unknown account
            listed = [_rule(r, order) for order, r in enumerate(rules)]
            default = _default_reply(default_reply)
        incoming = Incoming(
            text=text, buyer_id=PREVIEW_BUYER_ID, buyer_name=PREVIEW_BUYER_NAME, item_id=item_id
        )
        choice = choose_reply(RuleSet(tuple(listed), default, 0), incoming)
        matched = match_rule(listed, incoming) if choice.kind is ReplyKind.RULE else None
        return {
            "kind": str(choice.kind),
            "keyword": choice.keyword,
            "item_id": matched.item_id if matched else None,
            "rule_index": next((i for i, r in enumerate(listed) if r is matched), None),
            "reply": choice.text,
            "silent": choice.silent,
            "once_per_chat": choice.once_per_chat,
        }

    def set_account(
        self,
        account_id: str,
        *,
        remark: str | None = None,
        pause_minutes: int | None = None,
        notify: Sequence[str] | None = None,
        proxy: str | None = None,
    ) -> dict[str, Any]:
        """Partial update; ``notify`` replaces the account's own notification URLs
        (``[]`` clears them: it uses the global ones again). The answer shows the URLs by
        label only (``json://host #fingerprint``): they hold credentials. ``proxy`` ('' clears
        it) goes through the supervisor, which restarts a running account onto it."""
        if proxy is not None:
            self._call(rq.SetProxy(account_id, proxy=proxy))
        record = self._store.update_account(account_id, remark=remark, pause_minutes=pause_minutes)
        if notify is not None:
            self._store.set_notify_urls(account_id, list(notify))
        labels = [url_label(url) for url in self._store.notify_urls(account_id)]
        return {"account": {**account_dict(record), "notify": labels}}

    def pauses(self, account_id: str) -> dict[str, Any]:
        """The account's chats where auto-replies are paused now (a person answered there)."""
        paused = self._store.chat_pauses(account_id)
        return {"pauses": [{"chat": c, "until": u.isoformat()} for c, u in paused.items()]}

    def unpause(self, account_id: str, chat: str) -> dict[str, Any]:
        """Auto-replies in ``chat`` again from the next message."""
        lifted = self._store.unpause_chat(account_id, chat)
        return {"outcome": "unpaused" if lifted else "not_paused", "chat": chat}

    # --- cluster mode: the lease keeper's side (docs/cluster.md) -----------------------------

    def adopt(self, account_id: str, epoch: int, *, start_in_s: float = 0.0) -> None:
        """This node now holds the account's lease: serve it (told, not asked), its generation
        starting in ``start_in_s`` (a claim of many is spread like boot)."""
        self._tell(rq.Adopt(account_id, epoch, start_in_s=start_in_s))

    def lease_lost(self, account_id: str, reason: str) -> None:
        """This node no longer holds the account's lease: cut it off now (told, not asked)."""
        self._tell(rq.LeaseLost(account_id, reason))

    def release(self, account_id: str) -> concurrent.futures.Future[dict[str, Any]]:
        """Hand the account off gracefully; the future completes once its generation stopped
        and the supervisor forgot it (the lease may then be released)."""
        request = rq.Release(account_id)
        self._tell(request)
        return request.reply

    def status_rows(self) -> concurrent.futures.Future[dict[str, Any]]:
        """Every status row of the accounts this supervisor serves (a cluster node's share),
        as a future: the lease keeper never waits on a busy supervisor."""
        request = rq.Status(None)
        self._tell(request)
        return request.reply

    # --- plumbing ----------------------------------------------------------------------------

    def _tell(self, message: Any) -> None:
        try:
            self._ref.tell(message)
        except pykka.ActorDeadError as exc:
            raise NotRunningError("the supervisor is not running") from exc

    def _call(self, request: Any, *, timeout: float | None = None) -> dict[str, Any]:
        try:
            self._ref.tell(request)
        except pykka.ActorDeadError as exc:
            raise NotRunningError("the supervisor is not running") from exc
        wait_s = self._default_timeout() if timeout is None else timeout
        try:
            return request.reply.result(timeout=wait_s)
        except concurrent.futures.TimeoutError as exc:
            account = getattr(request, "account_id", None)
            raise XianyuSupervisorError(
                f"no outcome within {wait_s:g}s for {type(request).__name__.lower()} of "
                f"{account!r}",
                account=account,
                hint="it may still complete: see 'ctl events' and 'ctl status'",
            ) from exc

    def _default_timeout(self) -> float:
        # worst case: queued behind one operation, then a stop, a probation and a rollback stop
        t = self._timings
        return 2 * (t.probation_s + 2 * t.stop_timeout_s) + 30.0


def account_dict(record: AccountRecord) -> dict[str, Any]:
    """An account as the control socket shows it (no cookie values)."""
    return {
        "id": record.account_id,
        "user_id": record.user_id,
        "nick": record.nick,
        "enabled": record.enabled,
        "remark": record.remark,
        "pause_minutes": record.pause_minutes,
        "cookie_version": record.active_version,
        "created_at": record.created_at.isoformat(),
        "updated_at": record.updated_at.isoformat(),
        # scheme://host:port only: a proxy URL may hold credentials
        "proxy": proxy_label(record.proxy) or None,
    }


def _rule(value: Mapping[str, Any] | Rule, order: int) -> Rule:
    if isinstance(value, Rule):
        return value
    try:
        return Rule(
            keyword=str(value["keyword"]),
            reply=str(value["reply"]),
            item_id=value.get("item_id"),
            order=int(value.get("order", order)),
        )
    except (KeyError, TypeError) as exc:
        raise InvalidValueError(
            f"rule {order}", "an object with 'keyword' and 'reply' (and optionally 'item_id')"
        ) from exc


def _default_reply(value: Mapping[str, Any] | DefaultReply | None) -> DefaultReply | None:
    if value is None or isinstance(value, DefaultReply):
        return value
    try:
        return DefaultReply(str(value["text"]), bool(value.get("once_per_chat", True)))
    except (KeyError, TypeError) as exc:
        raise InvalidValueError(
            "default_reply", "an object with 'text' (and optionally 'once_per_chat')"
        ) from exc
