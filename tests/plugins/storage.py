"""Fixtures that open a Store on SQLite (and PostgreSQL when configured)."""
