"""Remove cookie values from text: the safety net under every log line, CLI message and event.

It lives in ``common/`` because every layer needs it: ``storage`` redacts event data before
it is stored, ``control`` its messages, ``service`` every log line.

Code must never log a cookie in the first place (it logs ``Cookie.fingerprint``);
this catches the mistakes. Two shapes are recognised: ``name=value`` for the names
of Goofish/Taobao login cookies, and any run of three or more ``k=v;`` pairs (a
whole Cookie header), whose values are all replaced.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

# Login and anti-bot cookies set by the Taobao/Goofish passport. ``unb`` (the seller
# id) is deliberately absent: it is an identifier we log on purpose.
SECRET_COOKIE_NAMES = (
    "cookie1",
    "cookie2",
    "cookie17",
    "_m_h5_tk",
    "_m_h5_tk_enc",
    "sgcookie",
    "_tb_token_",
    "x5sec",
    "csg",
    "skt",
    "uc1",
    "uc3",
    "uc4",
    "lgc",
    "_nk_",
    "sn",
    "munb",
    "sid",
    "isg",
    "tfstk",
    "cna",
    "havana_lgc2_77",
    "havana_lgc_exp",
    "_hvn_lgc_",
    "_samesite_flag_",
    "xlly_s",
    "tracknick",
    "dnk",
    "sg",
    "existShop",
)

_VALUE = r"[^;\s,\"'&]+"
_NAMED = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(n) for n in SECRET_COOKIE_NAMES) + r")=(" + _VALUE + ")"
)
_PAIR = re.compile(r"([A-Za-z0-9_.\-]+)=(\S*)")
# credentials in a URL (a proxy's, a database's): scheme://user:password@ keeps only the scheme
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^\s/@:'\"]+:[^\s/@'\"]+@")


def _redact_pair(token: str) -> str:
    match = _PAIR.fullmatch(token)
    return f"{match.group(1)}={REDACTED}" if match else token


def _redact_head(part: str) -> str:
    body = part.lstrip()
    lead = part[: len(part) - len(body)]
    cut = next((i for i, ch in enumerate(body) if ch.isspace()), len(body))
    return lead + _redact_pair(body[:cut]) + body[cut:]


def _redact_tail(part: str) -> str:
    body = part.rstrip()
    trail = part[len(body) :]
    cut = next((i + 1 for i in range(len(body) - 1, -1, -1) if body[i].isspace()), 0)
    return body[:cut] + _redact_pair(body[cut:]) + trail


def _redact_header_pairs(text: str) -> str:
    """Redact every ``k=v`` token that touches a ``;`` once the text has two or more.

    Works on ``str.split`` pieces rather than one big regex: a regex for "a run of
    pairs" backtracks quadratically on long inputs such as ``a=a=a=...``.
    """
    if text.count(";") < 2:
        return text
    parts = text.split(";")
    for i in range(len(parts)):
        if i > 0:
            parts[i] = _redact_head(parts[i])
        if i < len(parts) - 1:
            parts[i] = _redact_tail(parts[i])
    return ";".join(parts)


# Event-dict keys whose string value is a cookie, whatever it looks like.
_SAFE_SUFFIXES = ("fingerprint", "version", "file", "path", "source", "status", "count", "id")


def redact_text(text: str) -> str:
    """Return ``text`` with every cookie-looking value replaced by ``<redacted>``."""
    text = _URL_CREDENTIALS.sub(r"\1" + REDACTED + "@", text)
    return _NAMED.sub(r"\1=" + REDACTED, _redact_header_pairs(text))


def is_cookie_key(key: str) -> bool:
    """True for a field name that carries a cookie value (``cookie``, ``new_cookie``)."""
    lowered = key.lower()
    return "cookie" in lowered and not lowered.endswith(_SAFE_SUFFIXES)


def redact_value(value: object) -> object:
    """Redact strings inside ``value`` (recursing into dicts, lists and tuples)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and is_cookie_key(k) and isinstance(v, str)
            else redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value
