"""End to end through one `airflow standalone` with the project's DAGs (started once for this module):

1. Airflow's UI as a person uses it: log in, open indicator_backfill's trigger form (headless Chromium, the
   dashboard test's playwright-core; the other DAGs' forms are built from the same param definitions, which
   test_dag_integrity holds equal), and check what the form refuses before a run exists, what the first
   task refuses in one line, and that a run with empty params covers the hour the form promises. It runs
   first, on the DAGs as a fresh installation has them (paused, never run), and leaves them paused: when a
   run of the REST test below had come first, the first form's dialog once closed while the test read it.
2. The REST API (/api/v2, token auth): reconciliation and Airflow's own backfill over the processor's bars.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import pandas as pd
import pytest
from airflow_server import Airflow, standalone
from dags_support import Streamed, read_tables
from sqlalchemy import Engine, text
from support import ROOT, wait_until

from services.config import Settings
from services.core.indicators import INDICATOR_COLUMNS

WEB_DIR = ROOT / "services" / "dashboard" / "web"
CHROMIUM = "/usr/bin/chromium"
SYMBOLS = ["AAPL", "GOOGL", "AMZN", "MSFT", "TSLA"]


@pytest.fixture(scope="module")
def airflow(airflow_db: str, base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    log = tmp_path_factory.mktemp("airflow") / "airflow-standalone.log"
    with standalone(base_settings, log) as running:
        wait_until(lambda: all(running.http.get(f"/dags/{d}").status_code == 200
                               for d in ("indicator_backfill", "indicator_reconciliation")),
                   timeout=60, interval=0.5, what="the indicator DAGs to be parsed")
        yield running


def use_forms(airflow: Airflow, dag_id: str) -> dict[str, Any]:
    """What the person saw in `dag_id`'s trigger form, and the runs it created ("created")."""
    before = set(runs(airflow, dag_id))
    node = shutil.which("node")
    assert node and (WEB_DIR / "node_modules" / "playwright-core").is_dir()
    done = subprocess.run([node, str(Path(__file__).with_name("airflow_ui_check.mjs")), airflow.url, airflow.password,
                           str(WEB_DIR), dag_id], capture_output=True, text=True, timeout=600,
                          env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])["dags"][dag_id]
    return {**seen, "created": set(runs(airflow, dag_id)) - before}


def runs(airflow: Airflow, dag_id: str) -> list[str]:
    return [r["dag_run_id"] for r in airflow.call("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]]


def xcom(airflow: Airflow, dag_id: str, run_id: str, task_id: str) -> Any:
    return airflow.call("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/xcomEntries/"
                               "return_value")["value"]


def check_refusals(airflow: Airflow, dag_id: str, seen: dict[str, Any]) -> None:
    """Refused by the form: no run. Refused by `plan`: a failed run, one log line, no traceback."""
    assert set(SYMBOLS) <= set(seen["symbolOptions"])  # the Symbols field offers the configured ones...
    assert not set(SYMBOLS) & set(seen["afterTypingUnknown"]) and "ZZZZ" not in seen["afterTypingUnknown"]  # only
    refused = {"unknownSymbol": "Invalid input for param symbols: 'ZZZZ' is not one of ['AAPL', 'GOOGL', 'AMZN', "
                                "'MSFT', 'TSLA']",
               "notADate": "Invalid input for param start: 'yesterday' is not a 'date-time'"}
    for case, message in refused.items():
        assert seen[case]["run"] is None and seen[case]["formOpen"], (case, seen[case])
        assert seen[case]["toasts"] == ["Failed to Trigger Dag Bad Request"] and message in seen[case]["formSays"]
    assert seen["created"] == {seen["endBeforeStart"]["run"], seen["emptyParams"]["run"]}  # and no other

    bad = seen["endBeforeStart"]["run"]
    assert airflow.wait_for_run(dag_id, bad)["state"] == "failed"
    assert airflow.task_states(dag_id, bad)["plan"] == "failed"
    log = airflow.call("GET", f"/dags/{dag_id}/dagRuns/{quote(bad)}/taskInstances/plan/logs/1")["content"]
    errors = [e for e in log if e.get("level") == "error"]
    assert [e["event"] for e in errors] == [
        "invalid params: start (2024-05-02T00:00:00+00:00) must be before end (2024-05-01T00:00:00+00:00); the window "
        "is [start, end) and was taken from params", "Task exited"]
    assert not any("error_detail" in e or "Traceback" in str(e.get("event")) for e in log)


def check_window(airflow: Airflow, dag_id: str, run_id: str, owner_db: Engine) -> dict[str, Any]:
    """The run covered the hour before it was triggered, as the form says."""
    run = airflow.wait_for_run(dag_id, run_id)
    run_after = datetime.fromisoformat(run["run_after"].replace("Z", "+00:00"))
    window = xcom(airflow, dag_id, run_id, "plan")[0]["window"]
    assert window == {"start": (run_after - timedelta(hours=1)).isoformat(), "end": run_after.isoformat(),
                      "source": "the hour before the run was triggered"}
    with owner_db.connect() as conn:
        expected = conn.execute(text("SELECT count(*) FROM bars WHERE timeframe = 'raw' AND ts >= :s AND ts < :e"),
                                {"s": window["start"], "e": window["end"]}).scalar_one()
    assert 0 < expected < count_bars(owner_db)  # some bars lie before the window
    return {"run": run, "expected": expected}


def count_bars(owner_db: Engine) -> int:
    with owner_db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM bars WHERE timeframe = 'raw'")).scalar_one()


def test_trigger_forms_refuse_bad_params_and_empty_params_cover_the_last_hour(
    airflow: Airflow, owner_db: Engine
) -> None:
    # Base bars of every symbol every 10 s over the last 80 minutes, indicators not yet computed.
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE bars, signals, reconciliation_runs, reconciliation_mismatches"))
        conn.execute(text(
            "INSERT INTO bars (symbol, ts, open, high, low, close, volume) "
            "SELECT s, t, 100 + sin(i / 7.0), 101 + sin(i / 7.0), 99 + sin(i / 7.0), 100 + sin((i + 1) / 7.0), 10 "
            "FROM unnest(CAST(:symbols AS text[])) s, generate_series(1, 480) i, "
            "LATERAL (SELECT date_trunc('second', now()) - make_interval(secs => 4800 - 10 * i) t) x"),
            {"symbols": SYMBOLS})
    backfill = use_forms(airflow, "indicator_backfill")
    check_refusals(airflow, "indicator_backfill", backfill)
    filled = check_window(airflow, "indicator_backfill", backfill["emptyParams"]["run"], owner_db)
    assert filled["run"]["state"] == "success"
    summary = xcom(airflow, "indicator_backfill", backfill["emptyParams"]["run"], "summary")
    assert summary["timeframes"]["raw"]["bars"] == filled["expected"]
    assert summary["timeframes"]["raw"]["rows_written"] >= filled["expected"]  # every bar got its indicators

    # The reconciliation DAG's form is the same page over the same param definitions (test_dag_integrity:
    # one definition; its tolerance refused by the schema as the form would). The form unpaused the DAG it
    # triggered; leave the DAGs as a fresh installation has them (paused) for
    # the tests that share this metadata database.
    for dag_id in ("indicator_backfill", "indicator_reconciliation"):
        assert airflow.call("PATCH", f"/dags/{dag_id}", json={"is_paused": True})["is_paused"] is True


def test_reconciliation_and_backfill_run_in_airflow_standalone(
    airflow: Airflow, stream_tables: Streamed, owner_db: Engine
) -> None:
    # the DAGs were parsed by standalone's dag-processor and are paused (as they start, and as the form test left them)
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
                          "WHERE timeframe = 'raw' AND symbol = 'AMZN' AND ts >= :s AND ts < :e"),
                     {"s": times[1500], "e": times[1600]})
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

