"""Ordered schema migrations from `sql/NNNN_name.sql`, each applied once, in its own transaction.

The files are the top-level sql/ of a checkout; a built wheel carries them as services/db/sql
(setup.py), and `SQL_DIR` is whichever exists. Finding none is an error, never "nothing to apply".

What ran is recorded in `schema_migrations` with a checksum: re-running is a no-op, and an
applied file that was edited afterwards is reported instead of silently ignored.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from services.logs import event

log = logging.getLogger(__name__)


def sql_dir() -> Path:
    """services/db/sql in an installed package, else the checkout's sql/."""
    packaged = Path(__file__).resolve().parent / "sql"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "sql"


SQL_DIR = sql_dir()
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x7469636B  # any constant: serialises concurrent migrators


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


class MigrationError(RuntimeError):
    pass


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    found = []
    for path in sorted(sql_dir.glob("*.sql")):
        if not _NAME.match(path.name):
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        found.append(Migration(path.stem, path))
    if not found:
        raise MigrationError(f"no migration found in {sql_dir} (a package built without its sql/?)")
    versions = [m.version[:4] for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number in {sql_dir}")
    return found


def applied(engine: Engine) -> dict[str, str]:
    with engine.begin() as conn:
        _ensure_table(conn)
        return dict(conn.execute(text("SELECT version, checksum FROM schema_migrations")).all())


def migrate(engine: Engine, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations in order; return the versions applied now."""
    done_now = []
    for migration in discover(sql_dir):
        with engine.begin() as conn:
            _ensure_table(conn)
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
            row = conn.execute(
                text("SELECT checksum FROM schema_migrations WHERE version = :v"), {"v": migration.version}
            ).first()
            if row is not None:
                if row[0] != migration.checksum:
                    raise MigrationError(
                        f"{migration.path.name} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            _run_script(conn, migration.sql)
            # its session-temporary helpers (e.g. 0030's procedure) end with it, not with the pooled session
            conn.execute(text("DISCARD TEMP"))
            conn.execute(
                text("INSERT INTO schema_migrations (version, checksum) VALUES (:v, :c)"),
                {"v": migration.version, "c": migration.checksum},
            )
            done_now.append(migration.version)
            event(log, "migration applied", version=migration.version)
    return done_now


def pending(engine: Engine, sql_dir: Path = SQL_DIR) -> list[str]:
    done = applied(engine)
    return [m.version for m in discover(sql_dir) if m.version not in done]


def _run_script(conn: Connection, sql: str) -> None:
    """A migration file is plain SQL: run it with no parameters, so a `%` in it (format(), LIKE) stays a `%`."""
    with conn.connection.cursor() as cur:
        cur.execute(sql)


def _ensure_table(conn: Connection) -> None:
    conn.execute(
        text(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
    )
