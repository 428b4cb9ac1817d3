"""People's logins have limits (k8s/base/postgres/initdb/tickflow-roles.psql, README "Who may
write"): as tickflow_analyst, `SELECT pg_sleep(60)` ran to its end, a transaction left open lived on,
and one person could take every connection. Each limit is read back from a real login, and one real
timeout of each kind is run with a 1 s value (the role's own 60 s would make the test a minute long)."""
from __future__ import annotations

import re
import time
from typing import Iterator

import psycopg2
import pytest
from sqlalchemy import make_url
from support import ROOT, wait_until

from services.config import Settings, database_url_on_port

ROLES_FILE = ROOT / "k8s" / "base" / "postgres" / "initdb" / "tickflow-roles.psql"
HUMAN = "tickflow_analyst"
# The defaults tickflow-roles.psql gives human logins (TICKFLOW_PG_HUMAN_* unset).
CONNECTION_LIMIT, STATEMENT_TIMEOUT, IDLE_IN_TRANSACTION_TIMEOUT = 20, "1min", "1min"


def default_of(variable: str) -> int:
    """A default of tickflow-roles.psql (`\\set default_<variable> N`), so the test and it agree."""
    return int(re.search(rf"^\\set default_{variable} (\d+)$", ROLES_FILE.read_text(), re.M).group(1))


@pytest.fixture(scope="module")
def analyst_url(base_settings: Settings) -> str:
    """The people's login (not the tests' stand-in), on the server the tests use."""
    port = make_url(base_settings.database_url).port
    return database_url_on_port(Settings.model_fields["reader_database_url"].default, port)


@pytest.fixture(scope="module")
def observer(base_settings: Settings) -> Iterator[psycopg2.extensions.connection]:
    """The writer's session: sees every session in pg_stat_activity (not their queries)."""
    conn = psycopg2.connect(base_settings.database_url, connect_timeout=5)
    conn.autocommit = True
    yield conn
    conn.close()


def analyst_session(url: str) -> psycopg2.extensions.connection:
    """A session as the analyst, after checking that it starts with the human limits."""
    conn = psycopg2.connect(url, connect_timeout=5)
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('statement_timeout'), "
                    "current_setting('idle_in_transaction_session_timeout')")
        assert cur.fetchone() == (STATEMENT_TIMEOUT, IDLE_IN_TRANSACTION_TIMEOUT)
    conn.rollback()
    return conn


def test_a_statement_over_the_timeout_is_cancelled(analyst_url: str) -> None:
    conn = analyst_session(analyst_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = '1s'")
            started = time.monotonic()
            with pytest.raises(psycopg2.errors.QueryCanceled, match="statement timeout"):
                cur.execute("SELECT pg_sleep(30)")
            assert time.monotonic() - started < 10
    finally:
        conn.close()


def test_a_session_idle_in_a_transaction_is_ended(analyst_url: str,
                                                   observer: psycopg2.extensions.connection) -> None:
    conn = analyst_session(analyst_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SET idle_in_transaction_session_timeout = '1s'")
            conn.commit()
            cur.execute("SELECT pg_backend_pid()")  # opens a transaction, then stays idle in it
            (pid,) = cur.fetchone()

        def ended() -> bool:
            with observer.cursor() as look:
                look.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
                return look.fetchone() == (0,)

        wait_until(ended, timeout=30, what=f"the server to end idle-in-transaction session {pid}")
        with pytest.raises(psycopg2.OperationalError), conn.cursor() as cur:
            cur.execute("SELECT 1")
    finally:
        conn.close()


def test_the_analysts_connection_over_the_limit_is_refused_while_the_writer_connects(
        analyst_url: str, base_settings: Settings, observer: psycopg2.extensions.connection) -> None:
    with observer.cursor() as cur:
        cur.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", (HUMAN,))
        assert cur.fetchone() == (CONNECTION_LIMIT,)
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (HUMAN,))
        (already,) = cur.fetchone()
    opened: list[psycopg2.extensions.connection] = []
    try:
        for _ in range(CONNECTION_LIMIT - already):
            opened.append(psycopg2.connect(analyst_url, connect_timeout=5))
        with pytest.raises(psycopg2.OperationalError, match=f'too many connections for role "{HUMAN}"'):
            psycopg2.connect(analyst_url, connect_timeout=5)
        writer = psycopg2.connect(base_settings.database_url, connect_timeout=5)  # the pipeline still gets in
        writer.close()
    finally:
        for conn in opened:
            conn.close()
    assert len(opened) + already == CONNECTION_LIMIT


def test_the_human_limits_leave_the_pipeline_its_connections(observer: psycopg2.extensions.connection) -> None:
    """PostgreSQL 15 has no reserved_connections: the limits of the human logins must sum to at most
    what is left after the superuser's reserve and the pipeline's connections."""
    with observer.cursor() as cur:
        cur.execute("SELECT current_setting('max_connections')::int, "
                    "current_setting('superuser_reserved_connections')::int")
        max_connections, superuser_reserved = cur.fetchone()
        cur.execute("SELECT rolname, rolconnlimit FROM pg_roles WHERE rolcanlogin AND rolconnlimit >= 0")
        limited = dict(cur.fetchall())
    pipeline = default_of("pipeline_connections")
    assert (max_connections, superuser_reserved, pipeline, limited) == (100, 3, 40, {HUMAN: CONNECTION_LIMIT})
    assert sum(limited.values()) <= max_connections - superuser_reserved - pipeline  # 20 <= 57
