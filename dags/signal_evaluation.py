"""
### signal_evaluation

Every day, what following each rule's signals would have done, per symbol, timeframe and rule,
over the `lookback_days` before the window end (logic: `services/orchestration/analytics/signal_evaluation.py`,
the computation: `services/core/evaluation.py`): closed trades, wins and win rate, mean return per
trade after a fee of `fee_bps` basis points on every entry and exit, total return, Sharpe, maximum
drawdown and exposure, each beside buy-and-hold over the same bars. Long-only: a BUY while flat
enters at its bar's close, a SELL while long exits at its bar's close; a trade still open at the
end is reported apart. Rows in `signal_evaluations` (newest: `signal_evaluation_latest`);
re-running a window replaces its rows.

Params: `symbols` and `timeframes` (empty: all; `raw` is the base bars), `end` (ISO 8601;
default: the data interval's end), `lookback_days` (default `TICKFLOW_EVALUATION_LOOKBACK_DAYS`,
30), `fee_bps` (default `TICKFLOW_EVALUATION_FEE_BPS`, 10). The database is the Airflow connection
`tickflow_db` (writer role) if defined, else `TICKFLOW_DATABASE_URL`.
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
    dag_id="signal_evaluation",
    description="Daily: each rule's signals followed (trades, win rate, Sharpe, drawdown) beside buy-and-hold",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=task_defaults(DATA_OWNER, retries=1, retry_delay=timedelta(seconds=30)),
    params={
        "symbols": symbols_param("evaluate", _settings),
        "timeframes": timeframes_param(_settings),
        "end": end_param("Window end"),
        "lookback_days": Param(None, type=["null", "integer"], minimum=1, title="Lookback (days)",
                               description="Days of bars before the end; empty: TICKFLOW_EVALUATION_LOOKBACK_DAYS."),
        "fee_bps": Param(None, type=["null", "number"], minimum=0, maximum=10_000, title="Fee (basis points)",
                         description="Paid on every entry and exit; empty: TICKFLOW_EVALUATION_FEE_BPS."),
    },
    tags=["tickflow", "signals"],
    doc_md=__doc__,
)
def signal_evaluation() -> None:
    @task
    def evaluate(params: dict | None = None, data_interval_end: datetime | None = None,
                 run_id: str | None = None) -> dict:
        return tasks.signal_evaluation(params or {}, data_interval_end, run_id)

    evaluate()


signal_evaluation()
