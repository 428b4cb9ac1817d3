"""Fixtures for the dashboard tests: empty dashboard tables, the dashboard and the pipeline as subprocesses."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest
from dashboard_data import DASHBOARD_TABLES
from running_services import ingest_and_processor
from sqlalchemy import Engine, text
from support import ServiceProcess, free_port

from services.config import Settings


@pytest.fixture
def dash_db(base_settings: Settings, owner_db: Engine) -> Settings:
    """Settings on empty bars, signals and dashboard tables (no Kafka topics: for tests without the pipeline)."""
    with owner_db.begin() as conn:
        conn.execute(text(f"TRUNCATE bars, signals, {', '.join(DASHBOARD_TABLES)}"))
    return base_settings


@pytest.fixture
def dash_stack(stack: Settings, owner_db: Engine) -> Settings:
    """`stack` (own topics and group, empty data tables) with empty dashboard tables too."""
    with owner_db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DASHBOARD_TABLES)}"))
    return stack


@pytest.fixture
def pipeline(dash_stack: Settings, tmp_path: Path) -> Iterator[str]:
    """ingest + processor on the real Kafka and PostgreSQL; yields ingest's URL."""
    with ingest_and_processor(dash_stack, tmp_path) as running:
        yield running.ingest_url


@pytest.fixture
def dashboard(dash_db: Settings, tmp_path: Path) -> Iterator[str]:
    """`python -m services.dashboard` on a free port (it needs PostgreSQL only); yields its base URL."""
    port = free_port()
    env = {**os.environ, "TICKFLOW_LOG_FORMAT": "json"}
    proc = ServiceProcess("dashboard", ["--port", str(port)], env, tmp_path)
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/readyz")
        yield f"http://127.0.0.1:{port}"
    finally:
        assert proc.stop() == 0, proc.log_tail()
