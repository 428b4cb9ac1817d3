"""One batch job of the lifecycle benchmark, in a process of its own so that its peak memory is its own:
`python -m bench.lifecycle_job JOB END` prints {"job", "seconds", "peak_mb", "result"} as JSON.

The jobs are what the DAGs run for their default window ending at END (the simulated now), called
through the same functions their tasks call; settings come from the TICKFLOW_* environment.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from datetime import datetime, timedelta
from typing import Any, Callable

from services.config import Settings
from services.core.timeframes import RAW


def reconciliation(settings: Settings, end: datetime) -> Any:
    from services.db.connect import make_engine
    from services.orchestration.catalog import DEFAULT_TOLERANCE
    from services.orchestration.indicators.recompute import Recomputation
    from services.orchestration.indicators.reconcile import finish_run, reconcile_symbol, start_run
    from services.orchestration.run_params import Window

    window = Window(end - timedelta(hours=1), end, "default: the last hour")  # the hourly schedule's interval
    timeframes = (RAW, *settings.timeframes)
    engine = make_engine(settings.database_url)
    try:
        start_run(engine, "bench-lifecycle", window, settings.symbols, tolerance=DEFAULT_TOLERANCE,
                  max_mismatches=0, repair=False, timeframes=timeframes)
        for symbol in settings.symbols:
            for tf in timeframes:
                reconcile_symbol(engine, "bench-lifecycle", Recomputation(
                    symbol, window, settings.indicator_params(), settings.signal_rules(), tf))
        summary = finish_run(engine, "bench-lifecycle")
        return {"status": summary.status, "bars": summary.bars, "mismatches": summary.mismatches}
    finally:
        engine.dispose()


def backfill(settings: Settings, end: datetime) -> Any:
    from services.db.connect import make_engine
    from services.orchestration.catalog import DEFAULT_TOLERANCE
    from services.orchestration.indicators.backfill import backfill_symbol
    from services.orchestration.indicators.recompute import Recomputation
    from services.orchestration.run_params import Window

    window = Window(end - timedelta(days=1), end, "default: the previous day")  # the daily schedule's interval
    engine = make_engine(settings.database_url)
    try:
        written = 0
        for symbol in settings.symbols:
            for tf in (RAW, *settings.timeframes):
                written += backfill_symbol(engine, Recomputation(symbol, window, settings.indicator_params(),
                                                                 settings.signal_rules(), tf,
                                                                 DEFAULT_TOLERANCE)).rows_written
        return {"rows_written": written}
    finally:
        engine.dispose()


def market_summary(settings: Settings, end: datetime) -> Any:
    from services.orchestration.analytics.market_summary import summarize

    return summarize(settings.database_url, end, settings.summary_horizon_bars, None, [RAW, *settings.timeframes])


def signal_evaluation(settings: Settings, end: datetime) -> Any:
    from services.orchestration.analytics.signal_evaluation import evaluate_signals

    return evaluate_signals(settings.database_url, end, timedelta(days=30), 10.0, settings.symbols,
                            [RAW, *settings.timeframes], None)


def data_retention(settings: Settings, end: datetime) -> Any:
    from services.db.connect import pg_connection
    from services.db.history import prune_history
    from services.db.partitions import drop_expired, maintain

    with pg_connection(settings.admin_database_url, "bench-lifecycle") as conn:
        created = maintain(conn, settings.retention_policy(), settings.timeframes, end).created
        dropped = drop_expired(conn, settings.retention_policy(), end)
        pruned = prune_history(conn, settings.retention_policy(), end)
    return {"created": len(created), "dropped": len(dropped.partitions),
            "bytes": sum(p.bytes for p in dropped.partitions), "history rows": sum(p.rows for p in pruned)}


JOBS: dict[str, Callable[[Settings, datetime], Any]] = {
    "indicator_reconciliation": reconciliation, "indicator_backfill": backfill, "market_summary": market_summary,
    "signal_evaluation": signal_evaluation, "data_retention": data_retention}


def main(argv: list[str]) -> int:
    job, end = argv[0], datetime.fromisoformat(argv[1])
    started = time.perf_counter()
    result = JOBS[job](Settings(), end)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"job": job, "seconds": seconds, "peak_mb": peak_mb, "result": result}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
