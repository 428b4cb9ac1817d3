"""The bodies of the DAGs' tasks: validate the run params, run the work, turn outcomes into task states.

DAG files (dags/) call these with values from the Airflow context; everything returned is
JSON (it travels as XCom). A failed check or reconciliation raises AirflowFailException (no
retry: retrying would not change the answer); a skipped check, or a run that found nothing to
do, raises AirflowSkipException (the task shows as skipped, with the reason in its log). A
person's mistake in the params raises `Refused`: the task fails with one line and no traceback.

Heavy modules (pandas, ta, kafka, SQLAlchemy) are imported inside the functions: DAG files
import this module, and the DAG processor parses them often.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

from services.orchestration.catalog import DEFAULT_TOLERANCE, MANUAL_SPAN, MANUAL_WINDOW
from services.orchestration.run_params import (
    RunParamError,
    Window,
    resolve_end,
    resolve_window,
    validate_bool,
    validate_max_mismatches,
    validate_symbols,
    validate_timeframes,
    validate_tolerance,
)

log = logging.getLogger(__name__)


def _fail(message: str) -> Exception:
    """The exception that fails a task without retries (raise it)."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


def _skip(message: str) -> Exception:
    from airflow.sdk.exceptions import AirflowSkipException

    return AirflowSkipException(message)


class Refused(SystemExit):
    """A person's mistake (invalid params or settings): the task fails with this one line in its log.

    Airflow's task runner logs any other exception with its traceback; a SystemExit it logs as
    "Task exited" alone. Every DAG's retry policy (dag_defaults.task_defaults) fails it at once:
    a mistake stays a mistake.
    """

    def __init__(self, message: str) -> None:
        super().__init__(1)
        self.message = message
        log.error("%s", message)

    def __str__(self) -> str:
        return self.message


def _window(run_params: Mapping[str, Any], data_interval_start: datetime | None, data_interval_end: datetime | None,
            run_after: datetime | None, run_type: str | None) -> Window:
    """The run params' window; else a manual run's last hour (catalog.MANUAL_SPAN); else the data interval."""
    if run_type == "manual":
        data_interval_start = data_interval_end = None
    window = resolve_window(run_params.get("start"), run_params.get("end"), data_interval_start=data_interval_start,
                            data_interval_end=data_interval_end, run_after=run_after, default_span=MANUAL_SPAN)
    return window if window.source != "default" else Window(window.start, window.end, MANUAL_WINDOW)



def _with_run_params(settings: Any, run_params: Mapping[str, Any], fields: Mapping[str, str]) -> Any:
    """`settings` with the run params that override a setting (param name -> settings field), each
    validated by that field, as the environment and the command line are (Settings.with_updates)."""
    updates = {field: run_params[name] for name, field in fields.items() if run_params.get(name) is not None}
    return settings.with_updates(**updates) if updates else settings


@contextmanager
def _refusing(mistakes: type[Exception] = ValueError) -> Iterator[None]:
    """A mistake in the run params (or in a setting a param overrides) raised in the block refuses the run."""
    try:
        yield
    except mistakes as exc:
        raise Refused(f"invalid params: {exc}") from None


def _symbols_and_timeframes(run_params: Mapping[str, Any], settings: Any) -> tuple[list[str], list[str]]:
    """The run's symbols and timeframes: the run params', each configured (or allowed); empty = all."""
    return (validate_symbols(run_params.get("symbols"), settings.symbols, settings.symbol_policy()),
            validate_timeframes(run_params.get("timeframes"), settings.timeframes))


# -- deployment_check ------------------------------------------------------------------------------

def deployment_check(name: str, run_id: str) -> dict[str, Any]:
    """Run one check, record it, and fail (or skip) the task as the check says."""
    from services.orchestration.checks import deployment
    from services.orchestration.runtime import kubernetes_rollout, load_settings, task_engine

    settings = load_settings()
    with task_engine(settings) as engine:
        kube = (lambda: kubernetes_rollout(settings)) if name == "kubernetes_rollout" else None
        result = deployment.run_check_patiently(name, settings, engine, kubernetes=kube)
        try:
            deployment.record_check(engine, run_id, result)
        except Exception as exc:  # noqa: BLE001 - the check's own outcome matters more
            log.error("could not record %s in deployment_checks: %s", name, exc)
            if not result.failed:
                result = deployment.CheckResult(name, deployment.FAILED, f"{result.message}; but recording it in "
                                                f"deployment_checks failed: {exc}", result.details, result.duration_ms)
    log.info("%s: %s — %s (%.0f ms)", name, result.status, result.message, result.duration_ms)
    if result.status == deployment.SKIPPED:
        raise _skip(result.message)
    if result.failed:
        raise _fail(result.message)
    return result.as_dict()


def deployment_summary(run_id: str, task_states: dict[str, str | None] | None = None) -> str:
    from services.orchestration.checks import deployment
    from services.orchestration.runtime import load_settings, task_engine

    settings = load_settings()
    with task_engine(settings) as engine:
        try:
            ok, message = deployment.summarize_run(engine, run_id, task_states=task_states)
        except Exception as exc:  # noqa: BLE001 - e.g. PostgreSQL itself is down: say so, plainly
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()
            raise _fail(f"cannot read the results from deployment_checks at "
                        f"{deployment.db_location(settings.database_url)}: "
                        f"{reason[0] if reason else type(exc).__name__}; see each check task's log") from None
    if not ok:
        raise _fail(message)
    log.info("%s", message)
    return message


# -- indicator_backfill ----------------------------------------------------------------------------
# One mapped task per symbol, looping over the timeframes: the run's grid stays one row per
# symbol (as before timeframes), a symbol's state is rebuilt once after all its timeframes, and
# the per-timeframe counts are in the task's result and the summary.

_COUNTS = ("bars", "rows_written", "bars_written", "values_written", "candles_inserted", "candles_unexpected",
           "signals_inserted", "signals_updated", "signals_deleted")


def plan_backfill(run_params: Mapping[str, Any], *, data_interval_start: datetime | None = None,
                  data_interval_end: datetime | None = None, run_after: datetime | None = None,
                  run_type: str | None = None) -> list[dict[str, Any]]:
    """Validate the run params; one job per symbol (the mapped tasks' input), each for all the run's timeframes."""
    from services.orchestration.runtime import load_settings

    settings = load_settings(use_connections=False)
    with _refusing(RunParamError):
        symbols, timeframes = _symbols_and_timeframes(run_params, settings)
        window = _window(run_params, data_interval_start, data_interval_end, run_after, run_type)
    log.info("backfill %s (from %s) for %s in %s", window, window.source, ", ".join(symbols), ", ".join(timeframes))
    return [{"symbol": s, "window": window.as_dict(), "timeframes": timeframes} for s in symbols]


def backfill_job(job: Mapping[str, Any]) -> dict[str, Any]:
    from services.orchestration.indicators.backfill import backfill_symbol
    from services.orchestration.indicators.recompute import Recomputation
    from services.orchestration.indicators.state import rebuild_symbol_state
    from services.orchestration.runtime import load_settings, task_engine

    settings = load_settings()
    indicator_params, rules = settings.indicator_params(), settings.signal_rules()
    per_timeframe: dict[str, dict[str, Any]] = {}
    with task_engine(settings) as engine:
        for timeframe in job.get("timeframes", ["raw"]):
            spec = Recomputation(job["symbol"], Window.from_dict(job["window"]), indicator_params, rules,
                                 timeframe=timeframe, tolerance=DEFAULT_TOLERANCE)
            per_timeframe[timeframe] = backfill_symbol(engine, spec).as_dict()
        # After an indicator-settings change the processor waits for this: a state it may continue from.
        state = rebuild_symbol_state(engine, job["symbol"], indicator_params, rules, settings.timeframe_specs())
    totals = {key: sum(r[key] for r in per_timeframe.values()) for key in _COUNTS}
    return {"symbol": job["symbol"], **totals, "timeframes": per_timeframe, "state": state, "window": job["window"]}


def backfill_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    results = [r for r in results if r]
    total: dict[str, Any] = {key: sum(r[key] for r in results) for key in _COUNTS}
    total["symbols"] = {r["symbol"]: r["rows_written"] for r in results}
    timeframes: dict[str, dict[str, int]] = {}
    for r in results:
        for tf, counts in r["timeframes"].items():
            into = timeframes.setdefault(tf, dict.fromkeys(("bars", "rows_written", "candles_inserted"), 0))
            for key in into:
                into[key] += counts[key]
    total["timeframes"] = timeframes
    total["states"] = {r["symbol"]: r.get("state") for r in results}
    if results and total["bars"] == 0:
        raise _skip(f"nothing to do: no bars in {Window.from_dict(results[0]['window'])} for "
                    f"{', '.join(total['symbols'])}; nothing written")
    log.info("backfill: %d bars recomputed, %d rows written (%s; %s)", total["bars"], total["rows_written"],
             ", ".join(f"{s} {n}" for s, n in total["symbols"].items()),
             ", ".join(f"{tf} {c['rows_written']}" for tf, c in timeframes.items()))
    return total


# -- indicator_reconciliation ----------------------------------------------------------------------
# Mapped per symbol, looping over the timeframes, for the same reasons as the backfill.

def plan_reconciliation(run_params: Mapping[str, Any], run_id: str, *, data_interval_start: datetime | None = None,
                        data_interval_end: datetime | None = None, run_after: datetime | None = None,
                        run_type: str | None = None) -> list[dict[str, Any]]:
    """Validate the run params, create the run's row, one job per symbol."""
    from services.orchestration.indicators import reconcile
    from services.orchestration.runtime import load_settings, task_engine

    settings = load_settings()
    with _refusing(RunParamError):
        symbols, timeframes = _symbols_and_timeframes(run_params, settings)
        window = _window(run_params, data_interval_start, data_interval_end, run_after, run_type)
        tolerance = validate_tolerance(run_params.get("tolerance", DEFAULT_TOLERANCE))
        max_mismatches = validate_max_mismatches(run_params.get("max_mismatches", 0))
        repair = validate_bool("repair", run_params.get("repair", False))
    with task_engine(settings) as engine:
        reconcile.start_run(engine, run_id, window, symbols, tolerance=tolerance, max_mismatches=max_mismatches,
                            repair=repair, timeframes=timeframes)
    log.info("reconciliation %s of %s (from %s) in %s, tolerance %g, max_mismatches %d, repair %s", run_id, window,
             window.source, ", ".join(timeframes), tolerance, max_mismatches, repair)
    return [{"symbol": s, "window": window.as_dict(), "run_id": run_id, "tolerance": tolerance, "repair": repair,
             "timeframes": timeframes} for s in symbols]


def reconciliation_job(job: Mapping[str, Any]) -> dict[str, Any]:
    from services.orchestration.indicators import reconcile
    from services.orchestration.indicators.recompute import Recomputation
    from services.orchestration.runtime import load_settings, task_engine

    settings = load_settings()
    per_timeframe: dict[str, dict[str, Any]] = {}
    with task_engine(settings) as engine:
        for timeframe in job.get("timeframes", ["raw"]):
            spec = Recomputation(job["symbol"], Window.from_dict(job["window"]), settings.indicator_params(),
                                 settings.signal_rules(), timeframe=timeframe, tolerance=float(job["tolerance"]))
            result = reconcile.reconcile_symbol(engine, job["run_id"], spec, repair=bool(job["repair"]))
            per_timeframe[timeframe] = result.as_dict()
    totals = {key: sum(r[key] for r in per_timeframe.values()) for key in ("bars", "mismatches", "remaining")}
    return {"symbol": job["symbol"], **totals, "timeframes": per_timeframe}


def reconciliation_summary(run_id: str) -> dict[str, Any]:
    from services.orchestration.indicators import reconcile
    from services.orchestration.runtime import load_settings, task_engine

    with task_engine(load_settings()) as engine:
        try:
            summary = reconcile.finish_run(engine, run_id)
        except reconcile.RunNotFound:
            raise _fail(f"reconciliation run {run_id!r} was never started: the plan task failed "
                        "(see its log)") from None
    if summary.failed:
        raise _fail(summary.message)
    if summary.bars == 0:
        raise _skip(summary.message)
    log.info("reconciliation %s: %s", summary.status, summary.message)
    return {"status": summary.status, "message": summary.message, "bars": summary.bars, "values": summary.values,
            "mismatches": summary.mismatches, "repaired_bars": summary.repaired_bars, "remaining": summary.remaining,
            "timeframes": summary.per_timeframe}


# -- market_summary --------------------------------------------------------------------------------

def market_summary(run_params: Mapping[str, Any], data_interval_end: datetime | None, run_id: str | None) -> dict:
    """Settings from TICKFLOW_*, the database from the Airflow connection `tickflow_db` if defined."""
    from services.orchestration.analytics.market_summary import summarize
    from services.orchestration.runtime import load_settings

    settings = load_settings()
    with _refusing():
        settings = _with_run_params(settings, run_params, {"horizon_bars": "summary_horizon_bars"})
        timeframes = validate_timeframes(run_params.get("timeframes"), settings.timeframes)
        end = resolve_end(run_params.get("end"), data_interval_end)
    return summarize(settings.database_url, end, settings.summary_horizon_bars, run_id, timeframes)


# -- signal_evaluation -----------------------------------------------------------------------------

def signal_evaluation(run_params: Mapping[str, Any], data_interval_end: datetime | None, run_id: str | None) -> dict:
    """Validate the run params (settings give the defaults), evaluate every symbol x timeframe x rule, store
    the rows."""
    from services.orchestration.analytics.signal_evaluation import evaluate_signals
    from services.orchestration.runtime import load_settings

    settings = load_settings()
    with _refusing():
        symbols, timeframes = _symbols_and_timeframes(run_params, settings)
        settings = _with_run_params(settings, run_params, {"fee_bps": "evaluation_fee_bps",
                                                           "lookback_days": "evaluation_lookback_days"})
        end = resolve_end(run_params.get("end"), data_interval_end)
    return evaluate_signals(settings.database_url, end, timedelta(days=settings.evaluation_lookback_days),
                            settings.evaluation_fee_bps, symbols, timeframes, run_id)


# -- market_forecast -------------------------------------------------------------------------------
# One mapped task per symbol: each fits its own models (seconds per symbol), retries alone.

def plan_forecast(run_params: Mapping[str, Any], data_interval_end: datetime | None) -> list[dict[str, Any]]:
    """Validate the run params (settings give the defaults); one job per symbol."""
    from services.orchestration.analytics.market_forecast import DAILY
    from services.orchestration.runtime import load_settings

    settings = load_settings(use_connections=False)
    with _refusing():
        symbols = validate_symbols(run_params.get("symbols"), settings.symbols, settings.symbol_policy())
        settings = _with_run_params(settings, run_params, {"horizon": "forecast_horizon_days",
                                                           "history": "forecast_history_days"})
        horizon, history = settings.forecast_horizon_days, settings.forecast_history_days
        end = resolve_end(run_params.get("end"), data_interval_end)
    if DAILY not in settings.timeframes:
        raise Refused(f"no daily candles to forecast from: TICKFLOW_TIMEFRAMES ({','.join(settings.timeframes)}) "
                      f"does not roll up {DAILY}")
    log.info("forecast %d days from up to %d daily candles before %s for %s", horizon, history, end.isoformat(),
             ", ".join(symbols))
    return [{"symbol": s, "end": end.isoformat(), "horizon": horizon, "history": history,
             "windows": settings.forecast_cv_windows} for s in symbols]


def forecast_job(job: Mapping[str, Any], run_id: str | None) -> dict[str, Any]:
    """One symbol's forecast; skipped (with the reason) when it has too little daily history."""
    from services.orchestration.analytics.market_forecast import NotEnoughHistory, forecast_symbol
    from services.orchestration.runtime import load_settings

    settings = load_settings()
    try:
        return forecast_symbol(settings.database_url, job["symbol"], datetime.fromisoformat(job["end"]),
                               int(job["horizon"]), int(job["history"]), int(job["windows"]), run_id)
    except NotEnoughHistory as exc:
        raise _skip(str(exc)) from None


def forecast_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Which symbol and target has a model that beat naive (the others forecast with naive)."""
    results = [r for r in results if r]
    beat = {r["symbol"]: {t: v["model"] for t, v in r["targets"].items() if v["beats_naive"]} for r in results}
    for r in results:
        lost = [t for t, v in r["targets"].items() if not v["beats_naive"]]
        if lost:
            log.info("%s: no model beat naive for %s; naive is the forecast", r["symbol"], ", ".join(lost))
    return {"symbols": [r["symbol"] for r in results], "beats_naive": beat,
            "seconds": {r["symbol"]: r["seconds"] for r in results}}


# -- market_recommendations ------------------------------------------------------------------------

def recommendations(run_params: Mapping[str, Any], data_interval_end: datetime | None, run_id: str | None) -> dict:
    """Validate the run params (settings give the defaults), make and store a recommendation per symbol x timeframe."""
    from services.core.recommendation import Policy
    from services.orchestration.analytics.phrasing import LLMEndpoint
    from services.orchestration.analytics.recommendations import recommend
    from services.orchestration.runtime import load_settings

    settings = load_settings()
    with _refusing():
        symbols, timeframes = _symbols_and_timeframes(run_params, settings)
        settings = _with_run_params(settings, run_params, {"min_trades": "evaluation_min_trades"})
        end = resolve_end(run_params.get("end"), data_interval_end)
    policy = Policy(min_trades=settings.evaluation_min_trades, stale_days=settings.recommendation_stale_days,
                    news_hours=settings.recommendation_news_hours, rsi_oversold=settings.rsi_oversold,
                    rsi_overbought=settings.rsi_overbought)
    llm = None
    if settings.recommendation_llm_url:
        llm = LLMEndpoint(settings.recommendation_llm_url, settings.recommendation_llm_model,
                          settings.recommendation_llm_key, settings.recommendation_llm_timeout_s)
    report = recommend(settings.database_url, end, symbols, timeframes, policy, settings.evaluation_fee_bps, llm,
                       run_id)
    if report["rows"] == 0:
        raise _skip(f"nothing to recommend: no bar before {end.isoformat()} for {', '.join(symbols)} in "
                    f"{', '.join(timeframes)}")
    return report


# -- data_retention --------------------------------------------------------------------------------
# Partition DDL needs the tables' owner: these tasks connect as `admin_database_url` (the Airflow
# connection tickflow_db_owner when defined), never as the services' writer. Ages are measured from
# the clock, not from the run's data interval: a run for a later date must never drop more.

def _now() -> datetime:
    return datetime.now(timezone.utc)


@contextmanager
def _as_owner(run_params: Mapping[str, Any]) -> Iterator[tuple[Any, bool, Any]]:
    """A data_retention task's settings, its `dry_run` param, and a connection as the tables' owner."""
    from services.db.connect import pg_connection
    from services.orchestration.runtime import load_settings

    settings = load_settings()
    with _refusing():
        dry_run = validate_bool("dry_run", run_params.get("dry_run"))
    with pg_connection(settings.admin_database_url, "tickflow-data-retention") as conn:
        yield settings, dry_run, conn


def _partition_dict(p: Any) -> dict[str, Any]:
    return {"partition": p.name, "table": p.table, "timeframe": p.timeframe, "from": p.range.lo.isoformat(),
            "to": p.range.hi.isoformat(), "rows": p.rows, "bytes": p.bytes}


def retention_partitions(run_params: Mapping[str, Any]) -> dict[str, Any]:
    """Create the partitions a week ahead and home rows waiting in DEFAULT partitions (a dry run: list them)."""
    from services.db.partitions import maintain

    with _as_owner(run_params) as (settings, dry_run, conn):
        report = maintain(conn, settings.retention_policy(), settings.timeframes, _now(), dry_run=dry_run)
    verb = "would create" if dry_run else "created"
    log.info("%s %d partition(s)%s; %d row(s) %s out of DEFAULT partitions", verb, len(report.created),
             "".join(f"\n  {p.name}" for p in report.created), report.homed_rows,
             "wait to move" if dry_run else "moved")
    return {"dry_run": dry_run, "created": [p.name for p in report.created], "homed_rows": report.homed_rows}


def retention_drop(run_params: Mapping[str, Any]) -> dict[str, Any]:
    """Drop every partition wholly older than its tier (a dry run: list them), with rows and sizes."""
    from services.db.partitions import drop_expired

    with _as_owner(run_params) as (settings, dry_run, conn):
        dropped = drop_expired(conn, settings.retention_policy(), _now(), dry_run=dry_run)
    gone = dropped.partitions
    verb = "would drop" if dry_run else "dropped"
    log.info("%s %d partition(s), %.1f MB%s; %d symbol state(s) checkpointed first", verb, len(gone),
             sum(p.bytes for p in gone) / 1e6,
             "".join(f"\n  {p.name}: {p.rows} rows, {p.bytes / 1e6:.1f} MB" for p in gone), dropped.checkpoints)
    return {"dry_run": dry_run, "partitions": [_partition_dict(p) for p in gone],
            "rows": sum(p.rows or 0 for p in gone), "bytes": sum(p.bytes for p in gone),
            "checkpoints": dropped.checkpoints}


def retention_history(run_params: Mapping[str, Any]) -> dict[str, Any]:
    """Delete the platform's own history older than its tier: deployment check results, reconciliation
    runs, finished webhook deliveries (a dry run: count them)."""
    from services.db.history import prune_history

    with _as_owner(run_params) as (settings, dry_run, conn):
        pruned = prune_history(conn, settings.retention_policy(), _now(), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for p in pruned:
        log.info("%s %d row(s) of %s from before %s%s", verb, p.rows, p.table, p.cutoff.isoformat(),
                 f" (with their {p.cascades_to})" if p.cascades_to else "")
    return {"dry_run": dry_run, "rows": {p.table: p.rows for p in pruned}}


def airflow_clean(run_params: Mapping[str, Any]) -> dict[str, Any]:
    """`airflow db clean` of Airflow's run history older than TICKFLOW_RETENTION_AIRFLOW_DAYS (0: kept).

    Airflow 3 gives a task no access to its metadata database (a task process's SQL_ALCHEMY_CONN is
    a deliberate dummy), so the command gets the URL from TICKFLOW_AIRFLOW_DATABASE_URL, through its
    environment only (never a command line or a log line). Unset: the task is skipped, saying so."""
    import os
    import subprocess
    import sys

    from services.orchestration.runtime import load_settings

    settings = load_settings(use_connections=False)
    with _refusing():
        dry_run = validate_bool("dry_run", run_params.get("dry_run"))
    days = settings.retention_airflow_days
    if days == 0:
        raise _skip("Airflow's run history is kept: TICKFLOW_RETENTION_AIRFLOW_DAYS=0")
    if settings.airflow_database_url is None:
        raise _skip("TICKFLOW_AIRFLOW_DATABASE_URL is not set: Airflow's run history is not cleaned (a task has "
                    "no access to Airflow's metadata database otherwise)")
    before = (_now() - timedelta(days=days)).isoformat()
    command = [sys.executable, "-m", "airflow", "db", "clean", "--clean-before-timestamp", before, "--skip-archive",
               "--yes", *(["--dry-run"] if dry_run else [])]
    url = settings.airflow_database_url.get_secret_value().replace("postgresql://", "postgresql+psycopg2://", 1)
    done = subprocess.run(command, env={**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url},
                          capture_output=True, text=True, timeout=3600)
    for line in (done.stdout + done.stderr).splitlines():
        log.info("%s", line.replace(url, "<TICKFLOW_AIRFLOW_DATABASE_URL>"))
    if done.returncode != 0:
        raise RuntimeError(f"airflow db clean exited with {done.returncode}; see the lines above")
    return {"dry_run": dry_run, "before": before}


def retention_summary(partitions: Mapping[str, Any], dropped: Mapping[str, Any], history: Mapping[str, Any]) -> str:
    verb = "would drop" if dropped["dry_run"] else "dropped"
    pruned = ", ".join(f"{rows} of {table}" for table, rows in sorted(history["rows"].items()) if rows) or "none"
    message = (f"{verb} {len(dropped['partitions'])} partition(s): {dropped['rows']} rows, "
               f"{dropped['bytes'] / 1e6:.1f} MB; {'would create' if partitions['dry_run'] else 'created'} "
               f"{len(partitions['created'])}; {partitions['homed_rows']} row(s) "
               f"{'waiting in' if partitions['dry_run'] else 'moved out of'} DEFAULT partitions; history rows "
               f"{'that would be deleted' if history['dry_run'] else 'deleted'}: {pruned}")
    log.info("%s", message)
    return message
