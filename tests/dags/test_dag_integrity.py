"""Every DAG file imports cleanly (no errors, no warnings) and has the expected shape."""
from __future__ import annotations

import copy
import importlib.util
import re
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from support import ROOT

DAGS_DIR = ROOT / "dags"

EXPECTED = {
    "deployment_check": {
        "file": "deployment_check.py",
        "tasks": {"ingest_health", "processor_health", "generator_health", "kafka_topics", "consumer_lag",
                  "data_freshness", "postgres_schema", "storage", "kubernetes_rollout", "summary"},
        "params": {},
    },
    "indicator_backfill": {
        "file": "indicator_backfill.py",
        "tasks": {"plan", "backfill", "summary"},
        "params": {"symbols": None, "timeframes": None, "start": None, "end": None},
    },
    "indicator_reconciliation": {
        "file": "indicator_reconciliation.py",
        "tasks": {"plan", "reconcile", "summary"},
        "params": {"symbols": None, "timeframes": None, "start": None, "end": None, "tolerance": 1e-9,
                   "max_mismatches": 0, "repair": False},
    },
    "market_summary": {
        "file": "market_summary.py",
        "tasks": {"summarize"},
        "params": {"end": None, "timeframes": None, "horizon_bars": None},
    },
    "signal_evaluation": {
        "file": "signal_evaluation.py",
        "tasks": {"evaluate"},
        "params": {"symbols": None, "timeframes": None, "end": None, "lookback_days": None, "fee_bps": None},
    },
    "market_forecast": {
        "file": "market_forecast.py",
        "tasks": {"plan", "forecast", "summary"},
        "params": {"symbols": None, "horizon": None, "history": None, "end": None},
    },
    "market_recommendations": {
        "file": "market_recommendations.py",
        "tasks": {"recommend"},
        "params": {"symbols": None, "timeframes": None, "end": None, "min_trades": None},
    },
}


@pytest.mark.parametrize("path", sorted(DAGS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_dag_file_imports_without_errors_or_warnings(path: Path, airflow_db: str) -> None:
    importlib.import_module("airflow.sdk")  # Airflow's own import-time warnings are not the DAG file's

    heavy_before = {m for m in sys.modules if m.split(".")[0] in ("pandas", "ta", "kafka")}
    spec = importlib.util.spec_from_file_location(f"dagfile_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec.loader.exec_module(module)
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    # parsing stays cheap: the heavy libraries load in our tasks, not when the DAG processor parses
    if not heavy_before and path.name in {e["file"] for e in EXPECTED.values()}:
        assert {m for m in sys.modules if m.split(".")[0] in ("pandas", "ta", "kafka")} == set()


def test_dagbag_has_the_expected_dags(dag_bag: dict[str, Any]) -> None:
    assert set(EXPECTED) <= set(dag_bag)  # other issues add DAGs of their own
    for dag_id, expected in EXPECTED.items():
        dag = dag_bag[dag_id]
        assert Path(dag.fileloc).name == expected["file"]
        assert {t.task_id for t in dag.tasks} == expected["tasks"], dag_id
        assert {k: dag.params[k] for k in dag.params} == expected["params"], dag_id
        assert dag.catchup is False and "tickflow" in dag.tags
        assert dag.start_date == datetime(2024, 1, 1, tzinfo=timezone.utc)
        assert dag.doc_md and dag_id in dag.doc_md
        assert dag.description and len(dag.description) <= 110  # one line in the DAG list
        assert {t.owner for t in dag.tasks} == {"tickflow-ops" if dag_id == "deployment_check" else "tickflow-data"}


def test_schedules(dag_bag: dict[str, Any]) -> None:
    from airflow.sdk import CronDataIntervalTimetable, CronTriggerTimetable

    check = dag_bag["deployment_check"].timetable
    assert isinstance(check, CronTriggerTimetable) and check.expression == "*/5 * * * *"
    backfill = dag_bag["indicator_backfill"].timetable
    assert isinstance(backfill, CronDataIntervalTimetable) and backfill.expression == "0 0 * * *"
    reconciliation = dag_bag["indicator_reconciliation"].timetable
    assert isinstance(reconciliation, CronDataIntervalTimetable) and reconciliation.expression == "0 * * * *"
    summary = dag_bag["market_summary"].timetable
    assert isinstance(summary, CronDataIntervalTimetable) and summary.expression == "0 * * * *"
    evaluation = dag_bag["signal_evaluation"].timetable
    assert isinstance(evaluation, CronDataIntervalTimetable) and evaluation.expression == "0 0 * * *"
    forecast = dag_bag["market_forecast"].timetable
    assert isinstance(forecast, CronDataIntervalTimetable) and forecast.expression == "30 0 * * *"
    recommendations = dag_bag["market_recommendations"].timetable  # after the evaluation and the forecast
    assert isinstance(recommendations, CronDataIntervalTimetable) and recommendations.expression == "0 1 * * *"


def test_task_wiring(dag_bag: dict[str, Any]) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    check = dag_bag["deployment_check"]
    summary = check.get_task("summary")
    assert summary.trigger_rule == "all_done"
    assert summary.upstream_task_ids == EXPECTED["deployment_check"]["tasks"] - {"summary"}
    assert all(check.get_task(t).retries == 2 for t in summary.upstream_task_ids)  # for tasks that never started

    backfill = dag_bag["indicator_backfill"]
    assert backfill.get_task("plan").retries == 1  # a database hiccup is retried; a refusal is not (test_alerts)
    assert backfill.get_task("backfill").upstream_task_ids == {"plan"}
    assert backfill.get_task("summary").upstream_task_ids == {"backfill"}
    assert isinstance(backfill.get_task("backfill"), MappedOperator)  # one task per symbol

    reconciliation = dag_bag["indicator_reconciliation"]
    assert isinstance(reconciliation.get_task("reconcile"), MappedOperator)
    assert reconciliation.get_task("summary").trigger_rule == "all_done"
    assert reconciliation.get_task("summary").upstream_task_ids == {"reconcile"}

    forecast = dag_bag["market_forecast"]
    assert isinstance(forecast.get_task("forecast"), MappedOperator)  # one task per symbol
    assert forecast.get_task("summary").trigger_rule == "none_failed"  # a skipped symbol does not skip it


def test_params_are_validated_by_their_schema(dag_bag: dict[str, Any]) -> None:
    """What the trigger form and the REST API refuse before a run is created."""
    from airflow.sdk.exceptions import ParamValidationError

    for name, bad in (("tolerance", 0), ("tolerance", 1), ("tolerance", "x"), ("max_mismatches", -1),
                      ("repair", "yes"), ("symbols", "AAPL"), ("symbols", ["ZZZZ"]), ("timeframes", ["2h"]),
                      ("timeframes", "1m"), ("timeframes", [1]), ("start", 5), ("start", "yesterday"),
                      ("end", "2024-05-01T00:00:00")):  # an offset is needed: RFC 3339
        params = copy.deepcopy(dag_bag["indicator_reconciliation"].params)
        with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}: "):
            params[name] = bad
    params = copy.deepcopy(dag_bag["indicator_reconciliation"].params)
    params["symbols"], params["timeframes"] = ["AAPL", "TSLA"], ["raw", "5m"]
    params["start"], params["end"] = "2024-05-01T00:00:00Z", "2024-05-01T01:00:00+00:00"
    assert dag_bag["indicator_backfill"].params.validate() == {"symbols": None, "timeframes": None, "start": None,
                                                               "end": None}


def test_the_form_marks_required_only_what_cannot_be_empty(dag_bag: dict[str, Any]) -> None:
    """Airflow's form marks a param required when null is not among its types; symbols come as choices."""
    def required(dag_id: str) -> set[str]:
        params = dag_bag[dag_id].params
        return {k for k in params if "null" not in params.get_param(k).schema["type"]}

    assert required("indicator_backfill") == set()
    assert required("indicator_reconciliation") == {"tolerance", "max_mismatches"}
    for dag_id in ("indicator_backfill", "indicator_reconciliation"):
        schema = dag_bag[dag_id].params.get_param("symbols").schema
        assert schema["items"]["enum"] == schema["examples"] == ["AAPL", "GOOGL", "AMZN", "MSFT", "TSLA"]
        assert dag_bag[dag_id].params.get_param("timeframes").schema["examples"] == ["raw", "1m", "5m", "1h", "1d"]
        assert "the hour before the run was triggered" in dag_bag[dag_id].params.get_param("start").description
    # One definition of the params both indicator DAGs take (the UI test checks them on one DAG's form).
    backfill, reconciliation = (dag_bag[d].params for d in ("indicator_backfill", "indicator_reconciliation"))
    for name in ("symbols", "timeframes", "start", "end"):
        assert backfill.get_param(name).schema == reconciliation.get_param(name).schema, name


def test_deployment_checks_run_on_the_executor_named_by_the_setting(airflow_db: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("TICKFLOW_CHECK_EXECUTOR", "LocalExecutor")  # as k8s/airflow/values.yaml sets it
    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}  # an executor that is not configured would be an import error
    assert {t.executor for t in bag.dags["deployment_check"].tasks} == {"LocalExecutor"}
    assert {t.executor for t in bag.dags["indicator_backfill"].tasks} == {None}  # the default (KubernetesExecutor)
    monkeypatch.delenv("TICKFLOW_CHECK_EXECUTOR")
    assert {t.executor for t in DagBag(dag_folder=str(DAGS_DIR)).dags["deployment_check"].tasks} == {None}


def test_make_run_unpauses_every_dag(dag_bag: dict[str, Any]) -> None:
    """scripts/platform.sh names the DAGs `make run` unpauses: all of them, so a new DAG runs locally too."""
    listed = re.search(r"^AIRFLOW_DAGS=\(([^)]*)\)", (ROOT / "scripts" / "platform.sh").read_text(), re.M)
    assert listed and sorted(listed.group(1).split()) == sorted(dag_bag)
