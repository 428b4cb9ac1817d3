"""Airflow for the DAG tests: its own AIRFLOW_HOME and metadata database for this test session.

Airflow reads its configuration when it is first imported, so the environment is set here, at
collection time, before any test imports it. The metadata database is a PostgreSQL database of
its own (`<test db>_airflow`, made by scripts/local-services.sh), emptied and migrated once per
session. These
tests run last (see `pytest_collection_modifyitems`): importing Airflow configures process-wide
logging, which must not change what the other tests see. On pytest-xdist workers (`make test`) they
are one unit of work instead, which goes first to one worker (tests/parallel.py), so the session
fixtures below start once, and that worker goes on with other modules: the tests that read what is
logged in-process (caplog: tests/generator, test_dashboard_feed_db, test_recommendation_phrasing)
pass after these too.

`streamed` runs the real pipeline once per session (ingest → Kafka → processor → PostgreSQL,
fixed seed) and keeps what the processor wrote, base bars and rolled candles; `stream_tables`
puts exactly that back into the tables before a test.
"""
from __future__ import annotations

import atexit
import io
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
from dags_support import Streamed, read_rolled, read_tables, wait_for_topic_metadata
from goog_daily import SYMBOL as GOOG
from goog_daily import GoogDaily, goog_csv, post_records, price_records
from namespaces import namespaced, own_topics
from running_services import ingest_and_processor, send_simulated_stream
from sqlalchemy import Engine, make_url, text
from streams import count_bars, truncate_outputs
from support import ROOT, TEST_DATABASE, wait_until

from services.config import Settings
from services.db.connect import make_engine, require_database

DAGS_DIR = ROOT / "dags"
_settings = Settings()
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tickflow-airflow-"))
atexit.register(shutil.rmtree, AIRFLOW_HOME, True)
# Made by scripts/local-services.sh beside the test database (the owner role may not create
# databases); emptied and migrated afresh for each session.
AIRFLOW_DB = f"{TEST_DATABASE}_airflow"
AIRFLOW_DB_URL = (make_url(_settings.admin_database_url).set(drivername="postgresql+psycopg2", database=AIRFLOW_DB)
                  .render_as_string(hide_password=False))
AIRFLOW_ENV = {
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": AIRFLOW_DB_URL,
    "AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS": "False",
}
os.environ.update(AIRFLOW_ENV)
os.environ.pop("KUBERNETES_SERVICE_HOST", None)  # the kubernetes_rollout check must find no cluster

SEED, CANDLES, INTERVAL = 23, 10_000, 1.0  # 2,000 bars per symbol, one second apart
DAG_TABLES = ("bars", "signals", "deployment_checks", "reconciliation_mismatches", "reconciliation_runs")


# dag.test() runs tasks through Airflow's in-process execution API, built on starlette's TestClient, whose
# import warns about httpx (Airflow's dependency, not our code; DAG files are checked for warnings separately).
IN_PROCESS_API_WARNING = "ignore:Using `httpx` with `starlette.testclient` is deprecated"


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    items.sort(key=lambda item: Path(str(item.path)).is_relative_to(here))  # stable: keeps each group's order
    for item in items:
        if Path(str(item.path)).is_relative_to(here):
            item.add_marker(pytest.mark.filterwarnings(IN_PROCESS_API_WARNING))


@pytest.fixture(scope="session")
def airflow_db(owner_db: Engine) -> Iterator[str]:
    """A migrated, empty Airflow metadata database for this session."""
    require_database(AIRFLOW_DB_URL)
    emptied = make_engine(AIRFLOW_DB_URL, isolation_level="AUTOCOMMIT")
    with emptied.connect() as conn:  # what an earlier (perhaps killed) session left
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public"))
    emptied.dispose()
    try:
        done = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], cwd=ROOT,
                              env=os.environ.copy(), capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        yield AIRFLOW_DB
    finally:
        try:
            from airflow import settings as airflow_settings

            airflow_settings.dispose_orm()
        except Exception:  # noqa: BLE001 - best effort: the next session empties the database anyway
            pass
        shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture
def dag_bag(airflow_db: str) -> dict[str, Any]:
    """The project's DAGs by id, freshly parsed from dags/ for each test.

    Fresh because dag.test() runs tasks in this process, and resolving a run's conf stores the
    values in the DAG's own Param objects: a DAG object reused for a second test would carry
    the first test's conf as its defaults (separate task processes never see this).
    """
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    return bag.dags


@pytest.fixture(scope="session")
def streamed(base_settings: Settings, owner_db: Engine, tmp_path_factory: pytest.TempPathFactory) -> Streamed:
    """Run generator → ingest → Kafka → processor once; keep the bars and signals the processor wrote."""
    # one hour after midnight two days ago: inside one UTC day, so a daily data interval holds it all
    start = math.floor(time.time() / 86_400) * 86_400 - 2 * 86_400 + 3_600
    logs = tmp_path_factory.mktemp("streamed")
    with own_topics(namespaced(base_settings, "test-dags")) as stack:
        wait_for_topic_metadata(stack)
        truncate_outputs(owner_db)
        with ingest_and_processor(stack, logs) as pipeline:
            send_simulated_stream(pipeline, logs, count=CANDLES, seed=SEED, start=start, interval=INTERVAL)
            wait_until(lambda: count_bars(owner_db) == CANDLES, timeout=120, interval=0.3,
                       what=f"{CANDLES} bars from the processor")
    bars, signals = read_tables(owner_db)
    assert len(signals) > 100 and bars["rsi"].notna().sum() > 9_000
    rolled_bars, rolled_signals = read_rolled(owner_db)
    assert set(rolled_bars["timeframe"]) == {"1m", "5m"}  # 2,000 s per symbol: no hour closes
    return Streamed(bars, signals, float(start), rolled_bars, rolled_signals)


def _copy_in(engine: Engine, table: str, frame: pd.DataFrame) -> None:
    buf = io.StringIO()
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].map(lambda t: t.isoformat())
    out.to_csv(buf, index=False, header=False, na_rep="\\N", float_format=None)
    buf.seek(0)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.copy_expert(f"COPY {table} ({', '.join(out.columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
        raw.commit()
    finally:
        raw.close()


@pytest.fixture
def stream_tables(streamed: Streamed, owner_db: Engine) -> Streamed:
    """bars and signals exactly as the processor wrote them; empty orchestration tables."""
    with owner_db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DAG_TABLES)}"))
    for bars, signals in ((streamed.bars, streamed.signals), (streamed.rolled_bars, streamed.rolled_signals)):
        _copy_in(owner_db, "bars", bars)
        _copy_in(owner_db, "signals", signals)
    bars, signals = read_tables(owner_db)
    pd.testing.assert_frame_equal(bars, streamed.bars)
    pd.testing.assert_frame_equal(signals, streamed.signals)
    pd.testing.assert_frame_equal(read_rolled(owner_db)[0], streamed.rolled_bars)
    return streamed


@pytest.fixture(scope="session")
def goog_daily(base_settings: Settings, owner_db: Engine, tmp_path_factory: pytest.TempPathFactory) -> GoogDaily:
    """GOOG's daily history posted to ingest and stored by the processor (base bars, rolled candles,
    indicators, signals), once per session; what it stored is kept."""
    csv = goog_csv()
    logs = tmp_path_factory.mktemp("goog")
    before = os.environ.get("TICKFLOW_SYMBOLS")
    os.environ["TICKFLOW_SYMBOLS"] = GOOG  # ingest accepts configured symbols only
    try:
        with own_topics(namespaced(base_settings, "test-goog", symbols=(GOOG,))) as stack:
            wait_for_topic_metadata(stack)
            truncate_outputs(owner_db)
            with ingest_and_processor(stack, logs) as pipeline:
                post_records(pipeline.ingest_url, price_records(csv))
                wait_until(lambda: count_bars(owner_db) == len(csv), timeout=120, interval=0.3,
                           what=f"{len(csv)} GOOG bars from the processor")
    finally:
        if before is None:
            os.environ.pop("TICKFLOW_SYMBOLS", None)
        else:
            os.environ["TICKFLOW_SYMBOLS"] = before
    with owner_db.connect() as conn:
        bars = pd.read_sql_query(text("SELECT * FROM bars ORDER BY timeframe, ts"), conn)
        signals = pd.read_sql_query(text("SELECT symbol, timeframe, ts, rule, side, price, value, reference "
                                         "FROM signals ORDER BY timeframe, ts, rule"), conn)
    assert set(bars["symbol"]) == {GOOG} and (bars["timeframe"] == "1d").sum() == len(csv) - 1  # last day forming
    return GoogDaily(csv, bars, signals)


@pytest.fixture
def goog_tables(goog_daily: GoogDaily, owner_db: Engine, monkeypatch: pytest.MonkeyPatch) -> GoogDaily:
    """bars and signals exactly as the processor stored GOOG's history; GOOG is a configured symbol."""
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE bars, signals"))
    _copy_in(owner_db, "bars", goog_daily.bars)
    _copy_in(owner_db, "signals", goog_daily.signals)
    monkeypatch.setenv("TICKFLOW_SYMBOLS", GOOG)
    return goog_daily


@pytest.fixture
def dag_env(monkeypatch: pytest.MonkeyPatch, base_settings: Settings) -> None:
    """The DAGs reach PostgreSQL through the Airflow connection tickflow_db (writer role), as in make run."""
    monkeypatch.setenv("AIRFLOW_CONN_TICKFLOW_DB", base_settings.database_url)
    monkeypatch.delenv("AIRFLOW_CONN_TICKFLOW_KAFKA", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", raising=False)
