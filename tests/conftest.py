"""Fixtures for tests on the real local Kafka and PostgreSQL (started by `make test`).

Tests use their own database (`tickflow_test`, created by scripts/local-services.sh; each pytest-xdist
worker after the first its own, see parallel.py) and their own topic prefix, so `make test` never
disturbs the data of a running `make run`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest
import single_threaded_blas  # noqa: F401 - before anything imports numpy
from lifecycle import emptied_lifecycle
from namespaces import namespaced, own_topics
from sqlalchemy import Engine, make_url
from streams import truncate_outputs
from support import TEST_DATABASE, ServiceProcess, stop_orphaned_services

from services.config import DATABASE_URL_FIELDS, Settings
from services.db.connect import make_engine, require_database, side_database_urls
from services.db.migrations import migrate
from services.db.partitions import maintain_database


def pytest_configure(config: pytest.Config) -> None:
    """Point every database URL at the test database, for this process and the services it starts;
    stop what a killed earlier run on it left running."""
    settings = Settings()
    for name, url in side_database_urls({n: getattr(settings, n) for n in DATABASE_URL_FIELDS}, TEST_DATABASE).items():
        os.environ[f"TICKFLOW_{name.upper()}"] = url
    stop_orphaned_services(os.environ["TICKFLOW_DATABASE_URL"])
    if config.pluginmanager.hasplugin("xdist"):
        from parallel import Parallel  # imports xdist

        config.pluginmanager.register(Parallel(config), "tickflow-parallel")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name the logins the tests need that the server lacks (provisioned by an older
    tickflow-roles.psql): their tests fail with a bare 'password authentication failed'."""
    settings = Settings()
    needed = {make_url(getattr(settings, name)).username for name in DATABASE_URL_FIELDS}
    needed |= {make_url(Settings.model_fields[name].default).username for name in DATABASE_URL_FIELDS}
    try:
        with psycopg2.connect(settings.database_url, connect_timeout=5) as conn, conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (sorted(needed),))
            missing = needed - {name for (name,) in cur.fetchall()}
        conn.close()
    except psycopg2.Error:
        return []  # no server: the tests say so themselves
    return [f"PostgreSQL lacks the logins {', '.join(sorted(missing))}: provisioned by an older "
            "tickflow-roles.psql; `scripts/local-services.sh start` re-provisions it (no restart)"] if missing else []


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def owner_db(base_settings: Settings) -> Iterator[Engine]:
    require_database(base_settings.admin_database_url)
    engine = make_engine(base_settings.admin_database_url)
    migrate(engine)
    maintain_database(base_settings.admin_database_url, base_settings.retention_policy(), base_settings.timeframes)
    yield engine
    engine.dispose()


@pytest.fixture
def lifecycle(base_settings: Settings, owner_db: Engine) -> Settings:
    """Settings on the emptied lifecycle database (tests/lifecycle.py), for tests that rebuild the schema."""
    return emptied_lifecycle(base_settings)


@pytest.fixture
def stack(base_settings: Settings, owner_db: Engine, tmp_path: Path) -> Iterator[Settings]:
    """Settings for one test: its own topic namespace and consumer group, and empty tables.

    The topics are deleted afterwards: thousands of leftover partitions slow every broker restart.
    """
    with own_topics(namespaced(base_settings)) as settings:
        truncate_outputs(owner_db)
        yield settings



@pytest.fixture(autouse=True)
def _stop_leftover_services() -> Iterator[None]:
    yield
    while ServiceProcess.running:
        ServiceProcess.running[-1].stop(sig=9, timeout=5)
