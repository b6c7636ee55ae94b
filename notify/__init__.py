"""Notifications when a person is needed: an account needs a cookie, failed, was rolled back,
is held by risk control, ran out of login budget, and when it is fine again.

Module map: ``kinds`` (what each notice says), ``signals`` (status rows and events →
signals, pure), ``policy`` (cooldown, grouping, recovery, pure), ``compose`` (wording and
destinations, pure), ``watcher`` (the polling thread), ``delivery`` (the outbox worker),
``sender`` (apprise), ``notifier`` (the part the service starts). The outbox and the
cooldowns live in the store (``storage.outbox``).
"""

from notify.notifier import Notifier

__all__ = ["Notifier"]
