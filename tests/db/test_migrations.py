"""Migrations and roles on the real local PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import Engine, text

from services.config import Settings
from services.db.migrations import MigrationError, applied, discover, migrate, pending


def test_rerunning_migrations_is_a_no_op(owner_db: Engine) -> None:
    assert migrate(owner_db) == []
    assert pending(owner_db) == []
    assert set(applied(owner_db)) == {m.version for m in discover()}


def test_an_edited_applied_migration_is_reported(owner_db: Engine, tmp_path: Path) -> None:
    first = discover()[0]
    (tmp_path / first.path.name).write_text(first.sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(owner_db, tmp_path)


def test_badly_named_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "add_things.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match="NNNN_lower_snake"):
        discover(tmp_path)


def test_expected_tables_and_indexes_exist(owner_db: Engine) -> None:
    with owner_db.connect() as conn:
        tables = set(conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
        indexes = set(conn.execute(text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")).scalars())
    assert {"bars", "signals", "order_book", "news_sentiment", "market_data", "economic_indicators",
            "late_bars", "dead_letters", "processor_offsets", "symbol_state", "schema_migrations"} <= tables
    assert {"bars_pkey", "signals_pkey", "signals_ts_idx"} <= indexes


def test_reader_role_reads_but_cannot_write(base_settings: Settings) -> None:
    with psycopg2.connect(base_settings.reader_database_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bars")
        assert cur.fetchone()[0] >= 0
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO signals (symbol, ts, rule, side, price, value, reference) "
                        "VALUES ('AAPL', now(), 'rsi', 'BUY', 1, 1, 1)")
    conn.close()


def test_writer_role_can_write_but_not_change_schema(base_settings: Settings) -> None:
    conn = psycopg2.connect(base_settings.database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO economic_indicators VALUES ('test_only', now(), 1.0)")
            assert cur.rowcount == 1
            conn.rollback()
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("DROP TABLE bars")
    finally:
        conn.rollback()
        conn.close()
