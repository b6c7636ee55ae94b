"""The in-memory ``FakeSupervisor`` (tests/plugins/control.py) stays honest against
``SupervisorApi``: same methods, same parameters."""

from __future__ import annotations

import inspect

from control.dispatch import SupervisorApi
from tests.plugins.control import FakeSupervisor


def test_fake_has_every_method_of_the_supervisor_api():
    for name, member in inspect.getmembers(SupervisorApi, inspect.isfunction):
        if name.startswith("_"):
            continue
        fake = getattr(FakeSupervisor, name)
        assert list(inspect.signature(fake).parameters) == list(
            inspect.signature(member).parameters
        ), name
