"""An account's proxy URL: checked once, shown without its credentials.

Risk control keys on the IP address, so studios give each account its own exit. A proxy is
``http://``, ``https://`` or ``socks5://``, with an optional ``user:password@``; the
credentials are secrets like a cookie: nothing prints them. ``proxy_label`` is what logs,
errors and the control socket show: ``scheme://host:port``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from common.errors import InvalidValueError
from common.sentences import error_sentence

SCHEMES = ("http", "https", "socks5")
_DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080}
_EXPECTED = (
    "an http://, https:// or socks5:// URL with a host (and optionally user:password@ and "
    ":port), or '' for none"
)


def check_proxy(url: str) -> str:
    """``url`` stripped, or ``InvalidValueError`` (which never quotes the credentials)."""
    text = url.strip()
    if not text:
        return ""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidValueError("proxy", _EXPECTED) from None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidValueError("proxy", _EXPECTED, value=proxy_label(text))
    del port  # parsed only to refuse a bad one
    return text


def proxy_label(url: str) -> str:
    """``socks5://10.0.0.7:1080``: the scheme, host and port, never the credentials
    ('' for no proxy)."""
    if not url.strip():
        return ""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "an unparsable proxy URL"
    scheme = parts.scheme.lower()
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS.get(scheme, '?')}"


def hide_credentials(text: str, proxy: str) -> str:
    """``text`` (an error from a proxied connection) without ``proxy``'s user and password."""
    try:
        parts = urlsplit(proxy.strip())
    except ValueError:
        return text
    for secret in (parts.password, parts.username):
        # a one- or two-letter name would blank out unrelated words: those are not secrets
        if secret and len(secret) >= 3:
            text = text.replace(secret, "<redacted>")
    return text


def connect_failed(exc: BaseException, proxy: str, *, what: str = "connect") -> str:
    """Why a connection failed, naming the proxy by host when there is one (never its
    credentials: an error's repr may show them, so its sentence is used, scrubbed)."""
    if not proxy:
        return f"{what} failed: {error_sentence(exc)}"
    sentence = hide_credentials(error_sentence(exc), proxy)
    return f"{what} through proxy {proxy_label(proxy)} failed: {sentence}"
