"""The storage figures in the real dashboard's /metrics (services/dashboard/monitoring.py): read in the
background on its reader login, recorded as a sample on its writer, the same arithmetic as the check."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from support import ServiceProcess, free_port, scrape_metrics, wait_until

from services.config import Settings
from services.db.partitions import PARTITIONED


def log_lines(proc: ServiceProcess) -> list[dict]:
    return [json.loads(line) for line in proc.log_path.read_text(errors="replace").splitlines() if line.startswith("{")]


VOLUME = 2**40  # 1 TiB
BASELINE = 1000  # bytes, two days ago


def test_metrics_carry_the_storage_figures(dash_db: Settings, owner_db: Engine, tmp_path: Path) -> None:
    with owner_db.begin() as conn:
        conn.execute(text("DELETE FROM storage_samples"))
        at = conn.execute(text("INSERT INTO storage_samples VALUES (now() - interval '2 days', :b) "
                               "RETURNING sampled_at"), {"b": BASELINE}).scalar_one()
    port = free_port()
    env = {**os.environ, "TICKFLOW_LOG_FORMAT": "json", "TICKFLOW_STORAGE_VOLUME_BYTES": "1Ti"}
    proc = ServiceProcess("dashboard", ["--port", str(port)], env, tmp_path)
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/readyz")
        url = f"http://127.0.0.1:{port}/metrics"
        m = wait_until(lambda: (s := scrape_metrics(url)) and "tickflow_db_size_bytes" in s and s,
                       timeout=20, what="the storage figures in /metrics")
    finally:
        assert proc.stop() == 0, proc.log_tail()
    size, used = m["tickflow_db_size_bytes"], m["tickflow_db_volume_used_bytes"]
    measured = datetime.fromtimestamp(m["tickflow_storage_measured_timestamp_seconds"], timezone.utc)
    assert timedelta(0) <= datetime.now(timezone.utc) - measured < timedelta(minutes=1)
    growth = (size - BASELINE) / ((measured - at) / timedelta(days=1))
    assert m["tickflow_db_growth_bytes_per_day"] == pytest.approx(growth, rel=1e-6)
    assert m["tickflow_db_volume_bytes"] == VOLUME
    assert m["tickflow_db_days_until_full"] == pytest.approx((VOLUME - used) / growth, rel=1e-6)
    assert m["tickflow_partitions_missing_ahead"] == 0
    assert m['tickflow_partitions_ahead_days{slice="bars/raw"}'] > 6
    assert m['tickflow_partitions_ahead_days{slice="bars/1d"}'] > 6
    assert m["tickflow_storage_refresh_failures_total"] == 0
    with owner_db.connect() as conn:
        now_size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        waiting = {t.name: conn.execute(text(f"SELECT count(*) FROM {t.default}")).scalar_one() for t in PARTITIONED}
        samples = conn.execute(text("SELECT sampled_at, database_bytes FROM storage_samples ORDER BY 1")).all()
    with owner_db.begin() as conn:  # no made-up growth for the tests after this one
        conn.execute(text("DELETE FROM storage_samples"))
    assert abs(size - now_size) <= 0.05 * now_size
    assert {t: m[f'tickflow_partition_default_rows{{table="{t}"}}'] for t in waiting} == waiting
    assert all(m[f'tickflow_partition_table_bytes{{table="{t.name}"}}'] > 0 for t in PARTITIONED)
    # The dashboard's writer recorded what it measured, as the next figures' sample: unless another
    # recorder on this database (a check, a dashboard) came first, as a sample stops any other for 15 minutes.
    recorded = [datetime.fromisoformat(line["at"]) for line in log_lines(proc)
                if line["msg"] == "storage sample recorded"]
    if recorded:
        assert recorded == [measured] and samples == [(at, BASELINE), (measured, size)]
    else:
        assert len(samples) == 2 and samples[0] == (at, BASELINE), samples
        assert timedelta(0) < measured - samples[1][0] < timedelta(minutes=15), (samples, measured)
