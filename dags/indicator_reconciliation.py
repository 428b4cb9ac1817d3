"""
### indicator_reconciliation

Every hour, recompute the indicators of the previous hour's bars with pandas + `ta` and compare
them with what the stream wrote (logic: `services/orchestration/indicators/reconcile.py`).

- A value mismatches when it is NULL on one side only or
  `|stored - expected| > tolerance * max(1, |expected|)`.
- **timeframes**: `raw` (the base bars) and/or configured timeframes (`1m`, `5m`, ...); empty =
  all. A rolled timeframe's candles are recomputed from the base bars, so a missing or wrong
  candle is a mismatch too; so is a signal missing, wrong or not expected.
- `reconciliation_runs` gets the run's summary, `reconciliation_mismatches` every mismatch
  (symbol, timeframe, time, indicator, stored and expected value).
- The run fails when more than `max_mismatches` are left. With `repair`, each symbol's
  mismatched time range is rewritten through the backfill logic and compared again.
- Window `[start, end)`: the params if given; else, for a manual run, the hour before it was
  triggered; else the data interval (the previous hour).
- `plan` checks the params (start before end) and fails with one line naming the mistake; a
  run whose window held no bars ends with `summary` **skipped**, saying so.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from services.config import Settings
from services.orchestration import tasks
from services.orchestration.catalog import DATA_OWNER, DEFAULT_TOLERANCE
from services.orchestration.dag_defaults import task_defaults
from services.orchestration.forms import symbols_param, timeframes_param, window_params

_settings = Settings()


@dag(
    dag_id="indicator_reconciliation",
    description="Hourly: recompute the last hour's indicators and compare them with what the stream stored",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=50),
    default_args=task_defaults(DATA_OWNER, retries=1, retry_delay=timedelta(seconds=30)),
    params={
        "symbols": symbols_param("reconcile", _settings),
        "timeframes": timeframes_param(_settings),
        **window_params("the previous UTC hour"),
        "tolerance": Param(DEFAULT_TOLERANCE, type="number", exclusiveMinimum=0, exclusiveMaximum=1,
                           title="Relative tolerance",
                           description="Greater than 0 and less than 1. A value mismatches when "
                                       "|stored - expected| > tolerance * max(1, |expected|)."),
        "max_mismatches": Param(0, type="integer", minimum=0, title="Mismatches allowed",
                                description="0 or more. The run fails when more mismatches than this are left."),
        "repair": Param(False, type=["null", "boolean"], title="Repair",
                        description="Rewrite each symbol's mismatched range through the backfill, then re-check "
                                    "(off unless ticked)."),
    },
    tags=["tickflow", "indicators"],
    doc_md=__doc__,
)
def indicator_reconciliation() -> None:
    @task
    def plan(params: dict | None = None, run_id: str | None = None, data_interval_start: datetime | None = None,
             data_interval_end: datetime | None = None, dag_run=None) -> list[dict]:
        return tasks.plan_reconciliation(params or {}, run_id, data_interval_start=data_interval_start,
                                         data_interval_end=data_interval_end,
                                         run_after=getattr(dag_run, "run_after", None),
                                         run_type=getattr(dag_run, "run_type", None))

    @task(map_index_template="{{ symbol }}")
    def reconcile(job: dict) -> dict:
        get_current_context()["symbol"] = job["symbol"]  # type: ignore[typeddict-unknown-key]
        return tasks.reconciliation_job(job)

    @task(trigger_rule="all_done")
    def summary(run_id: str | None = None) -> dict:
        return tasks.reconciliation_summary(run_id)

    reconcile.expand(job=plan()) >> summary()


indicator_reconciliation()
