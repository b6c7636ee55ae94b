"""No log line reaches the terminal outside pytest's capture (issue 12 §1.15).

structlog's unconfigured default prints to ``sys.stdout``; an actor or supervisor thread
still logging after its test ended (a scheduled restart, a crash being handled) printed
into the progress output. For the whole session structlog goes to stdlib ``logging``
instead, which pytest captures per test.
"""

from __future__ import annotations

import pytest

from service.logging import route_to_stdlib


def pytest_configure(config: pytest.Config) -> None:
    route_to_stdlib()
