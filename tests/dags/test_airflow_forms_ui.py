"""Airflow's UI as a person uses it: log in, open each indicator DAG's trigger form (headless Chromium, the
dashboard test's playwright-core), and check what the form refuses before a run exists, what the first task
refuses in one line, and that a run with empty params covers the hour the form promises. One `airflow
standalone` serves every check.

It runs first among the DAG tests (file name order, tests/dags/conftest.py keeps it), on the DAGs as a
fresh installation has them (paused, never run), and leaves them paused. After test_airflow_standalone.py
had unpaused and run them on the same metadata database, the first form's dialog closed while the test
read it; the cause is not pinned down yet.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, text

from services.config import Settings
from support import ROOT, wait_until
from airflow_server import Airflow, standalone

WEB_DIR = ROOT / "services" / "dashboard" / "web"
CHROMIUM = "/usr/bin/chromium"
SYMBOLS = ["AAPL", "GOOGL", "AMZN", "MSFT", "TSLA"]


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
    if dag_id == "indicator_reconciliation":
        refused["toleranceOutOfRange"] = "Invalid input for param tolerance: 2 is greater than or equal to the maximum of 1"
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
    airflow_db: str, base_settings: Settings, owner_db: Engine, tmp_path: Path
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
    with standalone(base_settings, tmp_path / "airflow-standalone.log") as airflow:
        wait_until(lambda: all(airflow.http.get(f"/dags/{d}").status_code == 200
                               for d in ("indicator_backfill", "indicator_reconciliation")),
                   timeout=60, interval=0.5, what="the indicator DAGs to be parsed")

        backfill = use_forms(airflow, "indicator_backfill")
        check_refusals(airflow, "indicator_backfill", backfill)
        filled = check_window(airflow, "indicator_backfill", backfill["emptyParams"]["run"], owner_db)
        assert filled["run"]["state"] == "success"
        summary = xcom(airflow, "indicator_backfill", backfill["emptyParams"]["run"], "summary")
        assert summary["timeframes"]["raw"]["bars"] == filled["expected"]
        assert summary["timeframes"]["raw"]["rows_written"] >= filled["expected"]  # every bar got its indicators

        # The backfill wrote the stream's values for the last hour: reconciliation finds them equal.
        reconciliation = use_forms(airflow, "indicator_reconciliation")
        check_refusals(airflow, "indicator_reconciliation", reconciliation)
        checked = check_window(airflow, "indicator_reconciliation", reconciliation["emptyParams"]["run"], owner_db)
        assert checked["run"]["state"] == "success"
        result = xcom(airflow, "indicator_reconciliation", reconciliation["emptyParams"]["run"], "summary")
        assert result["timeframes"]["raw"]["bars"] == checked["expected"] and result["mismatches"] == 0
        # The form unpaused the DAGs it triggered; leave them as a fresh installation has them (paused) for
        # the tests that share this metadata database.
        for dag_id in ("indicator_backfill", "indicator_reconciliation"):
            assert airflow.call("PATCH", f"/dags/{dag_id}", json={"is_paused": True})["is_paused"] is True
