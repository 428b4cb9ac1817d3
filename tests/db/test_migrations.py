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


def public_tables(db: Engine) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                      "ORDER BY 1")).scalars())


def test_reader_role_reads_every_table_and_can_change_none(base_settings: Settings, owner_db: Engine) -> None:
    tables = public_tables(owner_db)
    assert len(tables) >= 11
    attempts = {
        "INSERT": "INSERT INTO {t} DEFAULT VALUES",
        "UPDATE": "UPDATE {t} SET {c} = {c}",
        "DELETE": "DELETE FROM {t}",
        "TRUNCATE": "TRUNCATE {t}",
        "ALTER": "ALTER TABLE {t} ADD COLUMN sneaky int",
        "DROP": "DROP TABLE {t}",
        "CREATE INDEX": "CREATE INDEX ON {t} ({c})",
    }
    refused = []
    conn = psycopg2.connect(base_settings.reader_database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for table in tables:
                cur.execute(f"SELECT count(*) FROM {table}")
                assert cur.fetchone()[0] >= 0
                cur.execute("SELECT column_name FROM information_schema.columns "
                            "WHERE table_name = %s AND is_identity = 'NO' LIMIT 1",
                            (table,))
                column = cur.fetchone()[0]
                for verb, sql in attempts.items():
                    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                        cur.execute(sql.format(t=table, c=column))
                    refused.append((table, verb))
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("CREATE TABLE analyst_scratch (x int)")
    finally:
        conn.close()
    assert len(refused) == len(tables) * len(attempts)


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


def test_no_migration_found_is_an_error(tmp_path: Path) -> None:
    """A package built without its SQL must not report an up-to-date schema."""
    with pytest.raises(MigrationError, match="no migration found"):
        discover(tmp_path)
