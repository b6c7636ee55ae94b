"""The web page: the fleet, one account, the events, live; for people who would rather look
than type. Every action is a control command through the control socket's ``Dispatcher``.

address  the ``web`` setting: ``HOST:PORT`` or ``off``
auth     login token file, session cookie, CSRF token
ops      the dispatcher, called with dicts on worker threads
live     one poller of status and events for every open page
sse      ``GET /live``, Server-Sent Events
i18n     every word in English and Chinese, the language choice
views    the templates' environment, the macros the live stream renders
routes   the routes and the gate (session, CSRF, security headers)
server   ``WebServer``: the page on its own loop thread
cli      ``python run.py web-token [--rotate]``
"""

from __future__ import annotations

from web.address import WebAddress, parse_web
from web.server import WebServer

__all__ = ["WebAddress", "WebServer", "parse_web"]
