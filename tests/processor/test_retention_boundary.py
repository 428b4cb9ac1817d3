"""Across the retention boundary (README "Data lifecycle"): days of history written through the
processor's batch path (services/processor/fast_forward.py) into the lifecycle database, the oldest
raw bars dropped by retention, then a symbol's saved state lost. The processor rebuilds it from the
newest checkpoint and the bars after it, and goes on exactly as a stream that never stopped:
every bar, rolled candle and signal equal to the uninterrupted reference, to the bit. A reconciliation
over the kept days then checks what kept history supports, finds no mismatch, and says what it left."""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from lifecycle import execute, migrate_to

from services.config import Settings
from services.core.retention import RetentionPolicy
from services.core.stream import SymbolStream
from services.db.connect import make_engine, pg_connection
from services.db.partitions import drop_expired, maintain
from services.db.queries import rebuild_source
from services.orchestration.catalog import DEFAULT_TOLERANCE
from services.orchestration.indicators.recompute import Recomputation
from services.orchestration.indicators.reconcile import compare_symbol, finish_run, reconcile_symbol, start_run
from services.orchestration.run_params import Window
from services.processor.fast_forward import FastForward
from services.processor.sinks import BarRow, SignalRow
from services.processor.transaction import build_batch

DAY = 86_400
INTERVAL = 300.0  # a candle every 5 minutes per symbol: 288 a day
SYMBOLS = ("AAPL", "MSFT")
RAW_DAYS = 3


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def stored_rows(settings: Settings, since: float) -> tuple[list[tuple], list[tuple]]:
    bars = execute(settings, f"SELECT symbol, timeframe, round(extract(epoch FROM ts) * 1e6)::bigint, "
                             f"{', '.join(BarRow._fields[3:])} FROM bars WHERE ts >= %s ORDER BY 1, 2, 3",
                   (utc(since),))
    signals = execute(settings, "SELECT symbol, timeframe, round(extract(epoch FROM ts) * 1e6)::bigint, rule, side, "
                                "price, value, reference FROM signals WHERE ts >= %s ORDER BY 1, 2, 3, 4",
                      (utc(since),))
    return bars, signals


def as_stored(rows: list, width: int) -> list[tuple]:
    """BarRow / SignalRow tuples as stored_rows reads them back (times in whole microseconds)."""
    return sorted((r[0], r[1], round(r[2] * 1e6), *r[3:width]) for r in rows)


def test_a_state_rebuilt_from_a_checkpoint_goes_on_as_if_never_stopped(lifecycle: Settings, tmp_path: Path) -> None:
    migrate_to(lifecycle, tmp_path)
    settings = lifecycle.with_updates(symbols=",".join(SYMBOLS), timeframes="1m,5m,1h,1d")
    start = math.floor(time.time() / DAY) * DAY - 9 * DAY
    days = [start + d * DAY for d in range(10)]
    policy = RetentionPolicy(bars_days=(("raw", RAW_DAYS),))

    first = FastForward(settings, seed=5)
    first.run(days[0], days[6], INTERVAL)
    first.close()
    with pg_connection(settings.admin_database_url, "t") as conn:
        maintain(conn, policy, settings.timeframes, utc(days[6]))
        dropped = drop_expired(conn, policy, utc(days[6] + 3600))
    assert dropped.checkpoints == len(SYMBOLS)
    raw_dropped = [p for p in dropped.partitions if p.table == "bars"]
    assert raw_dropped and all(p.timeframe == "raw" and p.range.hi <= utc(days[RAW_DAYS]) for p in raw_dropped)
    kept_since = execute(settings, "SELECT min(ts) FROM bars WHERE timeframe = 'raw'")[0][0]
    assert kept_since == utc(days[RAW_DAYS])

    # A processor restarting on the database continues from the saved states: the uninterrupted stream.
    second = FastForward(settings, seed=5)
    second.run(days[6], days[8], INTERVAL)
    second.close()
    uninterrupted = {s: second.streams.stream_for(s) for s in SYMBOLS}

    # The states rebuilt from the newest checkpoint and the bars after it equal the live ones; from
    # the bars kept alone (what a rebuild did before checkpoints) they would not.
    params, rules, timeframes = settings.indicator_params(), settings.signal_rules(), settings.timeframe_specs()
    with pg_connection(settings.database_url, "t") as conn, conn, conn.cursor() as cur:
        for symbol in SYMBOLS:
            source = rebuild_source(cur, symbol, asdict(params), settings.timeframes)
            assert source.start is not None and not source.cut
            assert source.bars[0][0] > days[6] - INTERVAL and len(source.bars) == 2 * 288
            rebuilt = SymbolStream.replay(symbol, source.bars, params, rules, timeframes, source.start)
            assert rebuilt.to_state() == uninterrupted[symbol].to_state()
            cur.execute("SELECT extract(epoch FROM ts)::float8, open, high, low, close, volume FROM bars "
                        "WHERE symbol = %s AND timeframe = 'raw' ORDER BY ts", (symbol,))
            from_kept = SymbolStream.replay(symbol, cur.fetchall(), params, rules, timeframes)
            assert from_kept.to_state() != uninterrupted[symbol].to_state()

    # AAPL's saved state is lost: the processor's own rebuild takes the checkpoint, and what it
    # stores next equals what the uninterrupted streams make of the same records.
    execute(settings, "UPDATE symbol_state SET state = state - 'timeframes' WHERE symbol = 'AAPL'")
    third = FastForward(settings, seed=5)
    messages = list(third.messages(days[8], days[9], INTERVAL))
    want, _ = build_batch(messages, uninterrupted.__getitem__, third._ctx, third._topics.record_type_of_topic,
                          clock=days[9] + 1)
    third.run(days[8], days[9], INTERVAL)
    third.close()
    assert third.stats.state_rebuilds == 1
    # (the run also closes candles that began before it, such as day 7's 1d candle: keyed, not by time)
    bars, signals = stored_rows(settings, days[7])
    for stored, rows, key in ((bars, want.rows_of(BarRow), 3), (signals, want.rows_of(SignalRow), 4)):
        expected = {r[:key]: r for r in as_stored(rows, len(rows[0]))}
        got = {r[:key]: r for r in stored if r[:key] in expected or r[2] >= days[8] * 1e6}
        assert got == expected
    assert {tf for _, tf, *_ in as_stored(want.rows_of(BarRow), 3)} == {"raw", "1m", "5m", "1h", "1d"}
    assert len(want.rows_of(SignalRow)) > 10


    # Reconciliation over days whose warm-up was partly dropped: what the kept bars support is checked
    # and matches; the rest is counted as unchecked, never reported as a mismatch.
    window = Window(utc(days[2]), utc(days[9]), "test")
    engine = make_engine(settings.database_url)
    try:
        timeframes_checked = ("raw", "1m", "5m", "1h", "1d")
        start_run(engine, "retention-test", window, SYMBOLS, tolerance=DEFAULT_TOLERANCE, max_mismatches=0,
                  repair=False, timeframes=timeframes_checked)
        results = {(s, tf): reconcile_symbol(engine, "retention-test", Recomputation(s, window, params, rules, tf))
                   for s in SYMBOLS for tf in timeframes_checked}
        summary = finish_run(engine, "retention-test")
        assert summary.status == "passed" and summary.mismatches == 0, summary.message
        assert all(r.mismatches == 0 and r.unchecked > 0 for r in results.values())
        assert all(results[s, tf].bars > 200 for s in SYMBOLS for tf in ("raw", "1m", "5m"))
        assert all(results[s, tf].bars == 0 for s in SYMBOLS for tf in ("1h", "1d"))  # 782 candles of warm-up
        assert "left unchecked" in summary.message
        # the same check blind to the cut (as before dropped_history) reports mismatches that are not there
        execute(settings, "DELETE FROM dropped_history")
        blind = compare_symbol(engine, "retention-test", Recomputation("AAPL", window, params, rules), phase="recheck")
        assert blind.mismatches > 0
    finally:
        engine.dispose()
