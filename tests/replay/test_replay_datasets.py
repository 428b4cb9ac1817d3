"""Real price history (the `backtesting` package's GOOG, EURUSD and BTCUSD files, read where pip installed
them) replayed with `python -m services.replay` through the real ingest -> Kafka -> processor: every row
is stored, nothing is rejected, the stored indicators equal pandas + ta, and the reconciliation finds
0 mismatches on the base bars and on every rolled timeframe."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from replaying import count, run_replay, stored
from running_services import RunningPipeline
from sqlalchemy import Engine, text
from support import assert_same_indicators, signal_keys, wait_until

from bench.datasets import SHIPPED, shipped
from services.config import Settings
from services.core.reference import compute_indicators, compute_signals
from services.core.timeframes import RAW
from services.orchestration.indicators.recompute import Recomputation
from services.orchestration.indicators.reconcile import finish_run, reconcile_symbol, start_run
from services.orchestration.run_params import Window


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_shipped_history_is_stored_whole_with_exact_indicators(
        name: str, pipeline: RunningPipeline, stack: Settings, owner_db: Engine) -> None:
    symbol, rows, _ = SHIPPED[name]
    source = pd.read_csv(shipped(name), index_col=0)
    assert len(source) == rows

    summary = run_replay(pipeline, str(shipped(name)), "--symbol", symbol)
    assert (summary["rows"], summary["sent"], summary["accepted"], summary["rejected"], summary["undelivered"]) == (
        rows, rows, rows, 0, 0)
    wait_until(lambda: count(owner_db, "SELECT count(*) FROM bars WHERE symbol = :s AND timeframe = 'raw'",
                             s=symbol) == rows, timeout=120, what=f"{rows} {symbol} bars")
    assert count(owner_db, "SELECT count(*) FROM late_bars WHERE symbol = :s", s=symbol) == 0
    assert count(owner_db, "SELECT count(*) FROM dead_letters") == 0

    bars = stored(owner_db, symbol)
    assert bars[["open", "high", "low", "close", "volume"]].to_numpy().tolist() == \
        source[["Open", "High", "Low", "Close", "Volume"]].to_numpy(dtype=float).tolist()  # fractional BTC volume too
    assert (bars["ts"].dt.strftime("%Y-%m-%d %H:%M:%S") == pd.to_datetime(source.index).strftime(
        "%Y-%m-%d %H:%M:%S")).all()
    reference = compute_indicators(bars["close"])
    assert_same_indicators(bars, reference)
    with owner_db.connect() as conn:
        signals = pd.read_sql_query(text("SELECT symbol, ts, rule, side FROM signals WHERE timeframe = 'raw' "
                                         "AND symbol = :s"), conn, params={"s": symbol})
    expected = [(symbol, bars["ts"][s.position], s.rule, s.side) for s in compute_signals(reference).itertuples()]
    assert signal_keys(signals) == sorted(expected) and len(expected) > 0

    # The reconciliation DAG's logic over the whole history: base bars and every rolled timeframe.
    window = Window(bars["ts"].iloc[0].to_pydatetime(), bars["ts"].iloc[-1].to_pydatetime() + timedelta(days=1),
                    "params")
    timeframes = (RAW, *stack.timeframes)
    start_run(owner_db, f"replay-{name}", window, (symbol,), tolerance=1e-9, max_mismatches=0, repair=False)
    results = [reconcile_symbol(owner_db, f"replay-{name}", Recomputation(symbol, window, timeframe=tf, tolerance=1e-9))
               for tf in timeframes]
    summary_row = finish_run(owner_db, f"replay-{name}")
    assert [(r.timeframe, r.mismatches) for r in results] == [(tf, 0) for tf in timeframes]
    assert results[0].bars == rows and summary_row.status == "passed"
    # each daily, hourly or monthly bar is a window of its own at 1m..1d: rows - 1 closed candles each
    one_day = stored(owner_db, symbol, "1d")
    if name != "EURUSD":
        assert one_day["volume"].tolist() == bars["volume"].tolist()[:-1]


def test_replaying_again_stores_nothing_twice(pipeline: RunningPipeline, owner_db: Engine) -> None:
    symbol, (_, rows, _) = "BTCAGAIN", SHIPPED["BTCUSD"]  # a symbol of its own in the module's pipeline
    for _ in range(2):
        summary = run_replay(pipeline, str(shipped("BTCUSD")), "--symbol", symbol)
        assert (summary["accepted"], summary["rejected"]) == (rows, 0)
    wait_until(lambda: count(owner_db, "SELECT count(*) FROM late_bars WHERE symbol = :s AND reason IN "
                                       "('duplicate', 'late')", s=symbol) == rows,
               timeout=60, what=f"{rows} resent bars recorded as late")
    assert count(owner_db, "SELECT count(*) FROM bars WHERE timeframe = 'raw' AND symbol = :s", s=symbol) == rows
