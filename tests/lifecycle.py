"""A database of its own for tests that rebuild the schema from nothing (migrations, partitions,
retention): `<test database>_lifecycle`, made by scripts/local-services.sh, emptied by each such test."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from support import TEST_DATABASE

from services.config import Settings
from services.db.connect import make_engine, pg_connection, with_database
from services.db.migrations import SQL_DIR, discover, migrate

LIFECYCLE_DATABASE = f"{TEST_DATABASE}_lifecycle"


def emptied_lifecycle(base_settings: Settings) -> Settings:
    """Settings whose owner and writer URLs name the lifecycle database, emptied (its schema made again)."""
    urls = {name: with_database(getattr(base_settings, name), LIFECYCLE_DATABASE)
            for name in ("admin_database_url", "database_url")}
    settings = base_settings.with_updates(**urls)
    execute(settings, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    return settings


def migrate_to(settings: Settings, tmp_path: Path, last: str | None = None) -> None:
    """Apply the migrations up to `last` (a four-digit version, inclusive; None: all)."""
    chosen = SQL_DIR
    if last is not None:
        chosen = tmp_path / "sql"
        chosen.mkdir(exist_ok=True)
        for m in discover():
            if m.version[:4] <= last:
                shutil.copy(m.path, chosen / m.path.name)
    engine = make_engine(settings.admin_database_url)
    try:
        migrate(engine, chosen)
    finally:
        engine.dispose()


def execute(settings: Settings, sql: str, params: Any = None, url: str | None = None) -> list[tuple]:
    """Run `sql` in one transaction (as the owner unless `url` says); its rows, if it returns any."""
    with pg_connection(url or settings.admin_database_url, "tickflow-test") as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []
