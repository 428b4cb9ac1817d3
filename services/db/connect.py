"""Engines for the three database identities: owner (migrations), writer (services), reader (people)."""
from __future__ import annotations

from sqlalchemy import Engine, create_engine, make_url, text


def sqlalchemy_url(url: str) -> str:
    """Accept plain libpq URLs (postgresql://...) and pin the psycopg2 driver."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]!r}")


def make_engine(url: str, **kwargs: object) -> Engine:
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(sqlalchemy_url(url), **kwargs)


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def ensure_database(admin_url: str) -> None:
    """Create the database `admin_url` names if it does not exist (the owner role has CREATEDB).

    Used for side databases — tests, benchmarks — so they never touch the data of `make run`.
    """
    name = make_url(sqlalchemy_url(admin_url)).database
    server = make_engine(with_database(admin_url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
                conn.execute(text(f'GRANT CONNECT ON DATABASE "{name}" TO tickflow_writer, tickflow_reader'))
    finally:
        server.dispose()
