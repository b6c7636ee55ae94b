"""What may be shown of a notification URL: its scheme, for plain webhooks its host, a fingerprint.

Apprise URLs carry their credentials in every part: ``tgram://<bot token>/<chat>``,
``dingtalk://<access token>/``, ``mailto://user:password@host``. Logs, control answers
and notices therefore show ``url_label(url)`` only: the scheme, the host when the scheme
is a generic webhook whose host is just a server address (``json://``, ``form://``, ...),
and ``sha256(url)[:8]`` so two URLs of one service can be told apart.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

# schemes whose host part is the address of a server, never a credential
_HOST_IS_PUBLIC = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})


def url_fingerprint(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:8]


def url_label(url: str) -> str:
    """``json://127.0.0.1 #1a2b3c4d`` or ``tgram://… #1a2b3c4d``: never a credential."""
    scheme, found, rest = url.partition("://")
    scheme = scheme.lower() if found and scheme.isalnum() else "?"
    host = ""
    if scheme in _HOST_IS_PUBLIC:
        try:
            parts = urlsplit(f"http://{rest}")
        except ValueError:
            parts = None
        # with a user:password@ part the URL holds a credential: show no host at all
        if parts is not None and not (parts.username or parts.password):
            host = parts.hostname or ""
    return f"{scheme}://{host or '…'} #{url_fingerprint(url)}"
