"""
### market_forecast

Every day, per symbol (one mapped task each), the next `horizon` days of close, high, low and
volume from the symbol's daily (`1d`) candles, with 80% and 95% prediction intervals (logic:
`services/orchestration/analytics/market_forecast.py` and `forecasting.py`). Candidates: the `naive` and
`drift` baselines (always fitted), statsmodels ETS and Theta; each symbol's and target's model is
chosen by rolling-origin cross-validation on its own history, and the evaluation (MASE, sMAPE,
interval coverage of every candidate) is stored beside the forecast. When no model beats naive,
`beats_naive` is false and the forecast is naive's. Tables: `market_forecasts` (newest:
`market_forecast_latest`) and `forecast_evaluations`; re-running replaces a symbol's rows.

Params: `symbols` (empty: all configured), `horizon` (days; default `TICKFLOW_FORECAST_HORIZON_DAYS`,
7), `history` (most daily candles used; default `TICKFLOW_FORECAST_HISTORY_DAYS`, 730), `end`
(ISO 8601; only candles before it; default: the data interval's end). A symbol with too little
daily history is skipped, with the reason.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from services.config import Settings
from services.orchestration import tasks
from services.orchestration.catalog import DATA_OWNER
from services.orchestration.dag_defaults import task_defaults
from services.orchestration.forms import end_param, symbols_param

_settings = Settings()


@dag(
    dag_id="market_forecast",
    description="Daily: 7-day forecasts of close, high, low and volume per symbol, scored against naive",
    schedule=CronDataIntervalTimetable("30 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=task_defaults(DATA_OWNER, retries=1, retry_delay=timedelta(seconds=30)),
    params={
        "symbols": symbols_param("forecast", _settings),
        "horizon": Param(None, type=["null", "integer"], minimum=1, maximum=90, title="Horizon (days)",
                         description="Days to forecast; empty: TICKFLOW_FORECAST_HORIZON_DAYS."),
        "history": Param(None, type=["null", "integer"], minimum=40, title="History (daily candles)",
                         description="Most daily candles a model sees; empty: TICKFLOW_FORECAST_HISTORY_DAYS."),
        "end": end_param("History end"),
    },
    tags=["tickflow", "forecasts"],
    doc_md=__doc__,
)
def market_forecast() -> None:
    @task
    def plan(params: dict | None = None, data_interval_end: datetime | None = None) -> list[dict]:
        return tasks.plan_forecast(params or {}, data_interval_end)

    @task(map_index_template="{{ symbol }}")
    def forecast(job: dict, run_id: str | None = None) -> dict:
        get_current_context()["symbol"] = job["symbol"]  # type: ignore[typeddict-unknown-key]
        return tasks.forecast_job(job, run_id)

    @task(trigger_rule="none_failed")
    def summary(results: list[dict]) -> dict:
        return tasks.forecast_summary(list(results))

    summary(forecast.expand(job=plan()))


market_forecast()
