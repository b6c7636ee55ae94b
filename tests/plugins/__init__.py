"""pytest plugins with the shared fixtures (loaded from tests/conftest.py)."""
