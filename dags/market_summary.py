"""
### market_summary

Every hour, per-symbol summaries of the last hour (`1h`), day (`1d`) and week (`7d`) before
the end of the run's data interval, for each timeframe's bars (logic:
`services/orchestration/analytics/market_summary.py`), stored in `market_summaries` and
`market_summary_rules` and shown by the dashboard:

- OHLC, return (close / open - 1), volatility (sample std dev of log returns between bars),
  volume, number of bars;
- signals by side, and by rule and side;
- each rule's hit rate: share of signals whose close `horizon_bars` bars later moved in the
  signal's direction (signals without that many later bars in the window are not counted).

Timeframes: the base bars (`raw`) over the last hour and day; a rolled timeframe (`1m`, `5m`,
`1h`, `1d`, ...) over each period at least twice its length (`1d` candles: the week only).
Bars, volatility and the horizon count that timeframe's bars.

A run replaces the rows of its (timeframe, period, window end): re-running it is harmless.
Params: `end` (ISO 8601; default: the data interval's end), `timeframes` (default: raw and all
configured) and `horizon_bars` (default: `TICKFLOW_SUMMARY_HORIZON_BARS`, 5). The database is the
Airflow connection `tickflow_db` (writer role) if defined, else `TICKFLOW_DATABASE_URL`. Query the
newest ones with `SELECT * FROM market_summary_latest`.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from services.config import Settings
from services.orchestration import tasks
from services.orchestration.catalog import DATA_OWNER
from services.orchestration.dag_defaults import task_defaults
from services.orchestration.forms import end_param, timeframes_param

_settings = Settings()


@dag(
    dag_id="market_summary",
    description="Hourly: per-symbol OHLC, return, volatility, volume and signal hit rates for the dashboard",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    default_args=task_defaults(DATA_OWNER, retries=1, retry_delay=timedelta(seconds=30)),
    params={
        "end": end_param("Window end"),
        "timeframes": timeframes_param(_settings),
        "horizon_bars": Param(None, type=["null", "integer"], minimum=1, title="Hit-rate horizon (bars)",
                              description="Bars after a signal for its hit; empty: TICKFLOW_SUMMARY_HORIZON_BARS."),
    },
    tags=["tickflow", "dashboard"],
    doc_md=__doc__,
)
def market_summary() -> None:
    @task
    def summarize(params: dict | None = None, data_interval_end: datetime | None = None,
                  run_id: str | None = None) -> dict:
        return tasks.market_summary(params or {}, data_interval_end, run_id)

    summarize()


market_summary()
