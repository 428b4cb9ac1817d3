"""
### market_recommendations

Every day, per symbol and timeframe, a short recommendation in plain words and the facts it was
written from (logic: `services/orchestration/analytics/recommendations.py`, the wording:
`services/core/recommendation.py`): the newest bar's indicators, each rule's newest signal with
its evaluation (`signal_evaluations` at `TICKFLOW_EVALUATION_FEE_BPS`), the newest 7-day close
forecast with its skill against naive, and the news sentiment of the last
`TICKFLOW_RECOMMENDATION_NEWS_HOURS` (24) hours, all from rows stored before the run's end. The
text says how much weight the evidence deserves: too few trades to judge, a forecast no better
than assuming no change, stale or missing parts. With `TICKFLOW_RECOMMENDATION_LLM_URL` set, an
OpenAI-compatible model rephrases it; an answer with a number not among the facts (or any failure)
is replaced by the template's text, and the row says why. Rows in `recommendations` (newest:
`recommendation_latest`); re-running a run's end replaces its rows. Runs after signal_evaluation
and market_forecast.

Params: `symbols` and `timeframes` (empty: all; `raw` is the base bars), `end` (ISO 8601;
default: the data interval's end), `min_trades` (fewer closed trades are "too few to judge";
default `TICKFLOW_EVALUATION_MIN_TRADES`, 10, as the dashboard's evaluation table judges).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from services.config import Settings
from services.orchestration import tasks
from services.orchestration.catalog import DATA_OWNER
from services.orchestration.dag_defaults import task_defaults
from services.orchestration.forms import end_param, symbols_param, timeframes_param

_settings = Settings()


@dag(
    dag_id="market_recommendations",
    description="Daily: a plain-words recommendation per symbol and timeframe, every number from a stored row",
    schedule=CronDataIntervalTimetable("0 1 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=1),
    default_args=task_defaults(DATA_OWNER, retries=1, retry_delay=timedelta(seconds=30)),
    params={
        "symbols": symbols_param("recommend on", _settings),
        "timeframes": timeframes_param(_settings),
        "end": end_param("As of"),
        "min_trades": Param(None, type=["null", "integer"], minimum=1, title="Fewest trades to judge a rule",
                            description="Empty: TICKFLOW_EVALUATION_MIN_TRADES."),
    },
    tags=["tickflow", "signals", "forecasts"],
    doc_md=__doc__,
)
def market_recommendations() -> None:
    @task
    def recommend(params: dict | None = None, data_interval_end: datetime | None = None,
                  run_id: str | None = None) -> dict:
        return tasks.recommendations(params or {}, data_interval_end, run_id)

    recommend()


market_recommendations()
