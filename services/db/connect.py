"""Engines for the database identities: owner (migrations), writer (services), and two readers:
people (the analyst) and the dashboard, each its own login."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

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


@contextmanager
def pg_connection(dsn: str, application_name: str, connect_timeout: int = 10) -> Iterator[Any]:
    """A plain psycopg2 connection to `dsn` (a libpq URL), named `application_name` in pg_stat_activity,
    closed when the block ends. Its own `with conn:` is a transaction, as psycopg2's always is."""
    import psycopg2  # as SQLAlchemy does: only once a connection is made

    conn = psycopg2.connect(dsn, application_name=application_name, connect_timeout=connect_timeout)
    try:
        yield conn
    finally:
        conn.close()


def with_database(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


# The reader logins of side databases (tests, benchmarks), standing for the analyst and the dashboard,
# which may connect to `tickflow` only (k8s/base/postgres/initdb/tickflow-roles.psql).
SIDE_READER = "tickflow_test_analyst"
SIDE_DASHBOARD = "tickflow_test_dashboard"
SIDE_LOGINS = {"reader_database_url": SIDE_READER, "dashboard_database_url": SIDE_DASHBOARD}


def require_database(admin_url: str) -> None:
    """Fail clearly when the database `admin_url` names does not exist. The owner role may not create
    databases; scripts/local-services.sh creates the side ones (tickflow_test, tickflow_bench)."""
    name = make_url(sqlalchemy_url(admin_url)).database
    engine = make_engine(admin_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise RuntimeError(f"cannot use database {name!r} ({type(exc).__name__}); `make services` "
                           "(scripts/local-services.sh start) creates it") from exc
    finally:
        engine.dispose()


def side_database_urls(urls: dict[str, str], database: str) -> dict[str, str]:
    """Settings' database URLs (by field name) moved to a side database, each reader as its side login."""
    moved = {name: with_database(url, database) for name, url in urls.items()}
    for name, login in SIDE_LOGINS.items():
        if name in moved:
            moved[name] = make_url(moved[name]).set(username=login).render_as_string(hide_password=False)
    return moved
