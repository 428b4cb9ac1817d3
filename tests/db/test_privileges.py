"""Least privilege in PostgreSQL, as scripts/local-services.sh provisions it (from the same files
compose and Kubernetes run: k8s/base/postgres/initdb/) plus the migrations. Each privilege that
should be refused is tried for real, not only looked up."""
from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy import Engine, make_url, text

from services.config import Settings, database_url_on_port
from services.dashboard.app import reader_engine
from services.db.connect import SIDE_DASHBOARD, SIDE_READER

# What the services' group role may do to each table, and nothing more (sql/0023_least_privilege.sql).
WRITER = {
    "bars": {"SELECT", "INSERT", "UPDATE"},
    "signals": {"SELECT", "INSERT", "UPDATE", "DELETE"},
    "late_bars": {"SELECT", "INSERT"},
    "dead_letters": {"SELECT", "INSERT"},
    "order_book": {"SELECT", "INSERT"},
    "news_sentiment": {"SELECT", "INSERT"},
    "market_data": {"SELECT", "INSERT"},
    "economic_indicators": {"SELECT", "INSERT"},
    "processor_offsets": {"SELECT", "INSERT", "UPDATE"},
    "symbol_state": {"SELECT", "INSERT", "UPDATE"},
    "deployment_checks": {"SELECT", "INSERT", "UPDATE"},
    "reconciliation_runs": {"SELECT", "INSERT", "UPDATE"},
    "reconciliation_mismatches": {"SELECT", "INSERT", "DELETE"},
    "market_summaries": {"SELECT", "INSERT", "DELETE"},
    "market_summary_rules": {"SELECT", "INSERT"},
    "signal_evaluations": {"SELECT", "INSERT", "UPDATE"},
    "market_forecasts": {"SELECT", "INSERT", "DELETE"},
    "forecast_evaluations": {"SELECT", "INSERT", "DELETE"},
    "recommendations": {"SELECT", "INSERT", "UPDATE"},
    "webhook_cursors": {"SELECT", "INSERT", "UPDATE"},
    "webhook_deliveries": {"SELECT", "INSERT", "UPDATE"},
    "webhook_attempts": {"SELECT", "INSERT", "UPDATE"},
    "dashboard_feed": {"SELECT", "DELETE"},
    "storage_samples": {"SELECT", "INSERT", "DELETE"},
    # written by data_retention as the owner (sql/0031_stream_checkpoints.sql)
    "stream_checkpoints": {"SELECT"},
    "dropped_history": {"SELECT"},
    "schema_migrations": {"SELECT"},
}
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def dsn(url: str, user: str | None = None, database: str | None = None) -> str:
    u = make_url(url)
    return u.set(username=user or u.username, database=database or u.database).render_as_string(hide_password=False)


def connect(url: str, **kw: str):
    return psycopg2.connect(dsn(url, **kw), connect_timeout=5)


def refused(url: str, sql: str, **kw: str) -> str:
    """Run `sql` and return PostgreSQL's refusal (fails the test if it was allowed)."""
    conn = connect(url, **kw)
    conn.autocommit = True  # as a statement of its own (CREATE DATABASE needs that)
    try:
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '2s'")
            with pytest.raises(psycopg2.Error) as caught:
                cur.execute(sql)
        return str(caught.value)
    finally:
        conn.close()


def test_the_writer_has_exactly_what_the_services_need(owner_db: Engine) -> None:
    with owner_db.connect() as conn:
        tables = conn.execute(text(
            "SELECT relname, relispartition FROM pg_class WHERE relnamespace = 'public'::regnamespace "
            "AND relkind IN ('r', 'p')")).all()
        actual = {t: {p for p in PRIVILEGES if conn.execute(text(
            "SELECT has_table_privilege('tickflow_writer', :t, :p)"), {"t": f"public.{t}", "p": p}).scalar()}
            for t, _ in tables}
    partitions = {t for t, is_partition in tables if is_partition}
    assert len(partitions) >= 8 * 2, "every time-partitioned table has a DEFAULT and time partitions"
    # a time partition is written through its table (whose privileges count), never directly
    assert {t: actual.pop(t) for t in partitions} == {t: {"SELECT"} for t in partitions}
    assert actual == WRITER, "every table needs an explicit entry: grant new tables in their migration"


def test_the_writer_cannot_rewrite_history_or_the_migrations(base_settings: Settings) -> None:
    url = base_settings.database_url
    assert "permission denied" in refused(url, "DELETE FROM schema_migrations")
    assert "permission denied" in refused(url, "DELETE FROM bars")
    assert "permission denied" in refused(url, "TRUNCATE dead_letters")
    assert "permission denied" in refused(url, "DELETE FROM processor_offsets")


@pytest.mark.parametrize("who", ["reader", "writer"])
def test_only_the_owner_takes_advisory_locks(base_settings: Settings, who: str) -> None:
    url = base_settings.reader_database_url if who == "reader" else base_settings.database_url
    for call in ("pg_advisory_lock(8388345093884831076)", "pg_advisory_lock_shared(8388345093884831076)",
                 "pg_try_advisory_xact_lock(8388345093884831076)", "pg_advisory_lock(1, 2)"):
        assert "permission denied for function" in refused(url, f"SELECT {call}")


def deployed_login(base_settings: Settings, field: str) -> str:
    """The login `field` names outside the tests (its default), on the server the tests use."""
    return database_url_on_port(Settings.model_fields[field].default, make_url(base_settings.database_url).port)


def test_the_analyst_connects_to_tickflow_only(base_settings: Settings) -> None:
    analyst = dsn(deployed_login(base_settings, "reader_database_url"))  # the people's login
    assert make_url(analyst).username == "tickflow_analyst"
    conn = psycopg2.connect(analyst, connect_timeout=5)
    conn.close()
    for database in ("postgres", "airflow", "tickflow_test", "tickflow_bench"):
        with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
            psycopg2.connect(dsn(analyst, database=database), connect_timeout=5)
    assert make_url(base_settings.reader_database_url).username == SIDE_READER  # tests read as their own login


def test_the_owner_owns_the_schema_and_nothing_more(owner_db: Engine) -> None:
    with owner_db.connect() as conn:
        flags = conn.execute(text("SELECT rolcreaterole, rolcreatedb, rolsuper FROM pg_roles "
                                  "WHERE rolname = current_user")).one()
    assert tuple(flags) == (False, False, False)
    url = owner_db.url.render_as_string(hide_password=False).replace("+psycopg2", "")
    assert "must have admin option" in refused(url, "GRANT pg_execute_server_program TO tickflow")
    assert "permission denied" in refused(url, "CREATE ROLE sneaky")
    assert "permission denied" in refused(url, "CREATE DATABASE sneaky")


@pytest.mark.parametrize("logins", ["test database", "deployed"])
def test_people_can_neither_read_nor_end_the_dashboards_sessions(base_settings: Settings, logins: str) -> None:
    """PostgreSQL shows a session's query text to, and lets it be terminated by, its own login: with the
    dashboard reading as tickflow_analyst, any analyst saw its queries and could end its connections."""
    settings = base_settings if logins == "test database" else base_settings.with_updates(**{
        field: deployed_login(base_settings, field) for field in ("reader_database_url", "dashboard_database_url")})
    dashboard = reader_engine(settings)  # the engine every /api endpoint of the dashboard reads with
    try:
        with dashboard.connect() as conn:
            pid, user = conn.execute(text("SELECT pg_backend_pid(), current_user /* dashboard */")).one()
            analyst = psycopg2.connect(settings.reader_database_url, connect_timeout=5)
            analyst.autocommit = True
            try:
                with analyst.cursor() as cur:
                    cur.execute("SELECT usename, query FROM pg_stat_activity WHERE pid = %s", (pid,))
                    assert cur.fetchall() == [(user, "<insufficient privilege>")]
                    with pytest.raises(psycopg2.errors.InsufficientPrivilege, match="terminat"):
                        cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
            finally:
                analyst.close()
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid  # its session lives on
    finally:
        dashboard.dispose()
    assert user == (SIDE_DASHBOARD if logins == "test database" else "tickflow_dashboard")
