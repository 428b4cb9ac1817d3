"""End to end: `airflow standalone` with the project's DAGs, driven through the REST API (/api/v2, token auth)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from services.config import Settings
from services.core.indicators import INDICATOR_COLUMNS
from support import wait_until
from airflow_server import Airflow, standalone
from dags_support import Streamed, read_tables


@pytest.fixture
def airflow(airflow_db: str, base_settings: Settings, tmp_path: Path) -> Iterator[Airflow]:
    with standalone(base_settings, tmp_path / "airflow-standalone.log") as running:
        yield running


def test_reconciliation_and_backfill_run_in_airflow_standalone(
    airflow: Airflow, stream_tables: Streamed, owner_db: Engine
) -> None:
    # the DAGs were parsed by standalone's dag-processor and start paused
    wait_until(lambda: airflow.http.get("/dags/indicator_reconciliation").status_code == 200, timeout=60,
               interval=0.5, what="indicator_reconciliation to be parsed")
    dags = {d["dag_id"]: d for d in airflow.call("GET", "/dags", params={"tags": "tickflow"})["dags"]}
    ours = {"deployment_check", "indicator_backfill", "indicator_reconciliation"}
    assert ours <= set(dags)
    assert all(dags[d]["is_paused"] for d in ours)
    errors = airflow.call("GET", "/importErrors")
    assert errors["total_entries"] == 0, errors

    # 1. indicator_reconciliation, triggered with a window over the processor's bars
    assert airflow.call("PATCH", "/dags/indicator_reconciliation", json={"is_paused": False})["is_paused"] is False
    window = {"start": stream_tables.bars["ts"].min().isoformat(),
              "end": (stream_tables.bars["ts"].max() + pd.Timedelta(seconds=1)).isoformat()}
    run = airflow.call("POST", "/dags/indicator_reconciliation/dagRuns", json={"logical_date": None, "conf": window})
    done = airflow.wait_for_run("indicator_reconciliation", run["dag_run_id"])
    assert done["state"] == "success", (airflow.task_states("indicator_reconciliation", run["dag_run_id"]),
                                        airflow.log_tail())
    with owner_db.connect() as conn:
        row = conn.execute(text("SELECT status, bars_checked, mismatches FROM reconciliation_runs WHERE run_id = :r"),
                           {"r": run["dag_run_id"]}).one()
    assert tuple(row) == ("passed", 10_000 + len(stream_tables.rolled_bars), 0)  # every timeframe, the default

    # 2. Airflow's own backfill of indicator_backfill over the data's day (one run, its data interval)
    times = stream_tables.times("AMZN")
    with owner_db.begin() as conn:
        conn.execute(text(f"UPDATE bars SET {', '.join(f'{c} = NULL' for c in INDICATOR_COLUMNS)} "
                          "WHERE timeframe = 'raw' AND symbol = 'AMZN' AND ts >= :s AND ts < :e"), {"s": times[1500], "e": times[1600]})
    assert airflow.call("PATCH", "/dags/indicator_backfill", json={"is_paused": False})["is_paused"] is False
    day = pd.Timestamp(stream_tables.start, unit="s", tz="UTC").floor("D")
    backfill = airflow.call("POST", "/backfills", json={
        "dag_id": "indicator_backfill", "from_date": day.isoformat(), "to_date": day.isoformat(),
        "max_active_runs": 1, "reprocess_behavior": "completed"})

    def backfill_runs() -> list[dict[str, Any]]:
        runs = airflow.call("GET", "/dags/indicator_backfill/dagRuns", params={"run_type": "backfill"})["dag_runs"]
        return [r for r in runs if r["state"] in ("success", "failed")]

    finished = wait_until(backfill_runs, timeout=150, interval=1.0, what=f"backfill {backfill['id']} to finish")
    assert [(r["state"], r["data_interval_start"][:10], r["data_interval_end"][:10]) for r in finished] == [
        ("success", day.strftime("%Y-%m-%d"), (day + pd.Timedelta(days=1)).strftime("%Y-%m-%d"))]
    pd.testing.assert_frame_equal(read_tables(owner_db)[0], stream_tables.bars, check_exact=False, rtol=1e-9, atol=1e-9)
