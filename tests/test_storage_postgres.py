"""PostgreSQL only: a lost server connection fails one operation, then the Store reconnects."""

from __future__ import annotations

import psycopg2
import pytest

from common.errors import StorageError
from storage import Store

pytestmark = pytest.mark.postgres


def test_store_reconnects_after_the_server_drops_its_connection(postgres_url: str) -> None:
    store = Store.open(postgres_url)
    try:
        store.add_account("shop", "unb=1; c=1", "1")
        backend = store._db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
        killer = psycopg2.connect(postgres_url)
        try:
            with killer.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (backend,))
            killer.commit()
        finally:
            killer.close()

        with pytest.raises(StorageError, match="updating account 'shop' failed"):
            store.update_account("shop", remark="lost")

        assert store.update_account("shop", remark="back").remark == "back"
    finally:
        store.close()
