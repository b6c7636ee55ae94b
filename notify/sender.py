"""Sending one notice to one URL through apprise, and checking a URL before it is stored.

apprise speaks DingTalk, Feishu/Lark, WeCom, Telegram, Bark, e-mail, JSON/form webhooks and
many more, each from one URL (``json://host:port/path``, ``dingtalk://token/``, ...). This is
the one place that touches it. URLs are secrets: errors name them by ``url_label`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import apprise
import structlog

from common.secret_urls import url_label

log = structlog.get_logger(__name__)

MAX_URL = 4096
_TYPES = {
    "info": apprise.NotifyType.INFO,
    "success": apprise.NotifyType.SUCCESS,
    "warning": apprise.NotifyType.WARNING,
    "failure": apprise.NotifyType.FAILURE,
}


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str = ""
    permanent: bool = False  # retrying cannot help (the URL itself is unusable)


Send = Callable[[str, str, str, str], SendResult]
"""``send(url, title, body, notify_type)``"""


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used to notify (None: apprise knows it)."""
    if not url or len(url) > MAX_URL or "://" not in url:
        return (
            f"notification URL {url_label(url)} is not an apprise URL such as "
            "json://host:port/path, dingtalk://token/ or tgram://bot-token/chat-id"
        )
    if apprise.Apprise.instantiate(url) is None:
        return (
            f"notification URL {url_label(url)} is not one apprise can use: check the scheme "
            "and the parts it needs (https://github.com/caronc/apprise/wiki)"
        )
    return None


def check_urls(urls: list[str] | tuple[str, ...]) -> None:
    """Raise ValueError naming the first unusable URL (by label)."""
    for url in urls:
        problem = url_problem(url)
        if problem is not None:
            raise ValueError(problem)


def send(url: str, title: str, body: str, notify_type: str) -> SendResult:
    """Send one notice; never raises (a broken plugin is a failed delivery)."""
    service = apprise.Apprise.instantiate(url)
    if service is None:
        return SendResult(False, url_problem(url) or "unusable notification URL", permanent=True)
    try:
        delivered = service.notify(
            body=body, title=title, notify_type=_TYPES.get(notify_type, apprise.NotifyType.INFO)
        )
    except Exception as exc:  # noqa: BLE001 (survival boundary: a plugin bug must not stop delivery; no traceback: its text may hold the URL)
        log.warning("notify_plugin_failed", url=url_label(url), error=type(exc).__name__)
        return SendResult(False, f"the {url_label(url)} plugin failed: {type(exc).__name__}")
    if delivered:
        return SendResult(True)
    return SendResult(False, f"{url_label(url)} refused the notice or did not answer")
