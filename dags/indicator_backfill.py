"""
### indicator_backfill

Recompute indicators and signals from the stored bars with pandas + `ta` and write what
differs (logic: `services/orchestration/indicators/backfill.py`). Idempotent: a second run writes nothing.

- **Window** `[start, end)`: the params if given; else, for a manual run, the hour before it was
  triggered; else the run's data interval (the schedule's previous day; Airflow backfills:
  `airflow backfill create --dag-id indicator_backfill --from-date … --to-date …`). Enough
  history before `start` is loaded that the first values equal the stream's.
- **symbols**: empty = every configured symbol. One mapped `backfill` task per symbol; each
  logs and returns the rows it wrote, per timeframe.
- **timeframes**: `raw` (the base bars) and/or configured timeframes (`1m`, `5m`, ...); empty =
  all. A rolled timeframe is recomputed from the base bars (roll-up, then indicators and
  signals) and its candles are upserted, so a timeframe added after the history was stored
  gets its candles here.
- `plan` checks the params (start before end) and fails with one line naming the mistake; a
  run whose window held no bars ends with `summary` **skipped**, saying so.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from services.config import Settings
from services.orchestration import tasks
from services.orchestration.catalog import DATA_OWNER
from services.orchestration.dag_defaults import task_defaults
from services.orchestration.forms import symbols_param, timeframes_param, window_params

_settings = Settings()


@dag(
    dag_id="indicator_backfill",
    description="Recompute indicators and signals from stored bars (pandas + ta); write what differs",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=2,
    default_args=task_defaults(DATA_OWNER, retries=1, retry_delay=timedelta(seconds=30)),
    params={
        "symbols": symbols_param("recompute", _settings),
        "timeframes": timeframes_param(_settings),
        **window_params("the previous UTC day"),
    },
    tags=["tickflow", "indicators"],
    doc_md=__doc__,
)
def indicator_backfill() -> None:
    @task
    def plan(params: dict | None = None, data_interval_start: datetime | None = None,
             data_interval_end: datetime | None = None, dag_run=None) -> list[dict]:
        return tasks.plan_backfill(params or {}, data_interval_start=data_interval_start,
                                   data_interval_end=data_interval_end, run_after=getattr(dag_run, "run_after", None),
                                   run_type=getattr(dag_run, "run_type", None))

    @task(map_index_template="{{ symbol }}")
    def backfill(job: dict) -> dict:
        get_current_context()["symbol"] = job["symbol"]  # type: ignore[typeddict-unknown-key]
        return tasks.backfill_job(job)

    @task
    def summary(results: list[dict]) -> dict:
        return tasks.backfill_summary(list(results))

    summary(backfill.expand(job=plan()))


indicator_backfill()
