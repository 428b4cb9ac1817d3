"""End to end: `airflow standalone` with the project's DAGs, driven through the REST API (/api/v2, token auth)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from services.config import Settings
from services.core.indicators import INDICATOR_COLUMNS
from support import ROOT, free_port, wait_until
from dags_support import Streamed, read_tables

BIN = Path(sys.executable).parent


class Airflow:
    def __init__(self, url: str, token: str, log: Path) -> None:
        self.url, self.log = url, log
        self.http = httpx.Client(base_url=f"{url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 150) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        return wait_until(finished, timeout=timeout, interval=1.0, what=f"{dag_id} run {run_id} to finish")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""): ti["state"] for ti in tis}

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    """Any process of the group left, zombies aside."""
    out = subprocess.run(["ps", "-e", "-o", "pgid=,stat="], capture_output=True, text=True, check=True).stdout
    return any(int(g) == pgid and not stat.startswith("Z") for g, stat in (line.split() for line in out.splitlines()))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT to standalone first (it stops its parts, which stop their workers), then the group for whatever is
    left: SIGINT, then SIGKILL. A SIGINT to the whole group at once leaves LocalExecutor workers behind."""
    steps = ((lambda: proc.send_signal(signal.SIGINT), 45), (lambda: os.killpg(proc.pid, signal.SIGINT), 15),
             (lambda: os.killpg(proc.pid, signal.SIGKILL), 10))
    for send, grace in steps:
        if not _group_alive(proc.pid):
            break
        try:
            send()
        except ProcessLookupError:
            pass
        try:
            wait_until(lambda: not _group_alive(proc.pid), timeout=grace, interval=0.3, what="airflow to exit")
        except AssertionError:
            continue
    proc.wait(10)
    assert not _group_alive(proc.pid)


@pytest.fixture
def airflow(airflow_db: str, base_settings: Settings, tmp_path: Path) -> Iterator[Airflow]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts its parts as `airflow ...`
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # the log servers of the scheduler and triggerer default to fixed ports (8793, 8794)
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW_CONN_TICKFLOW_DB": base_settings.database_url,
        # task processes import `services` from this checkout, not from wherever the editable install points
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        # only the runs this test asks for: unpausing must not add a scheduled run of the latest interval
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    log = tmp_path / "airflow-standalone.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"airflow standalone exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                health = httpx.get(f"{url}/api/v2/monitor/health", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                return False
            return all(health.get(part, {}).get("status") == "healthy"
                       for part in ("metadatabase", "scheduler", "dag_processor", "triggerer"))

        wait_until(healthy, timeout=240, interval=0.5, what=f"airflow standalone at {url} to be healthy")
        passwords = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        login = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=10)
        assert login.status_code == 201, login.text
        yield Airflow(url, login.json()["access_token"], log)
    finally:
        _stop(proc)


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
