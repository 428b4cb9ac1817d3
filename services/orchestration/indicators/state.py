"""Bring a symbol's streaming state (`symbol_state`) in line with the indicator settings.

The processor refuses to continue from a state computed with other indicator parameters (its
values would silently mix two definitions). After the settings change, the indicator_backfill
DAG recomputes the stored indicators and then calls `rebuild_symbol_state`, which replays the
symbol's stored bars, oldest first, through the same streaming engine the processor uses. The
result is the state the processor would hold had it run with the new settings from the first
bar, so it continues bit-identically. When retention dropped the first bars (README "Data
lifecycle"), a rebuild for unchanged settings starts from the newest checkpoint and is still
bit-identical; one for new settings can only start from the oldest bar kept, and says so.

A state that already has these parameters belongs to a running processor and is left alone.
The write is a compare-and-set on the row read at the start: a processor that stored a state
meanwhile wins, and the rebuild reports it instead of overwriting.
"""
from __future__ import annotations

import logging
from dataclasses import asdict

import orjson
from sqlalchemy import Engine

from services.core.indicators import IndicatorParams
from services.core.signals import SignalRules
from services.core.stream import SymbolStream
from services.core.timeframes import Timeframe
from services.db.queries import rebuild_source

log = logging.getLogger(__name__)

CURRENT = "current"  # already computed with these parameters
NO_BARS = "no bars"
REBUILT = "rebuilt"
CHANGED_MEANWHILE = "changed meanwhile"  # a processor stored a state while we replayed: left as it is


def rebuild_symbol_state(engine: Engine, symbol: str, params: IndicatorParams = IndicatorParams(),
                         rules: SignalRules = SignalRules(), timeframes: tuple[Timeframe, ...] = ()) -> str:
    """Replay `symbol`'s stored base bars into a fresh state for `params` and `timeframes` unless
    it has them already."""
    wanted = asdict(params)
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            cur.execute("SELECT params, state, updated_at FROM symbol_state WHERE symbol = %s", (symbol,))
            row = cur.fetchone()
            if row is not None and row[0] == wanted and sorted(row[1].get("timeframes", {})) == sorted(
                    tf.name for tf in timeframes):
                conn.rollback()
                return CURRENT
            source = rebuild_source(cur, symbol, wanted, [tf.name for tf in timeframes])
            bars = source.bars
            if not bars and source.start is None:
                conn.rollback()
                return NO_BARS
            stream = SymbolStream.replay(symbol, bars, params, rules, timeframes, source.start)
            if row is not None and row[1].get("last_ts") is not None and round(row[1]["last_ts"], 6) == round(
                    stream.last_ts, 6):
                # The same last bar: keep the processor's own float for it, so a late duplicate of
                # that bar still compares equal (PostgreSQL stores microseconds, not the float).
                stream.last_ts = row[1]["last_ts"]
            state, params_json = orjson.dumps(stream.to_state()).decode(), orjson.dumps(wanted).decode()
            if row is None:
                cur.execute("INSERT INTO symbol_state (symbol, last_ts, params, state) "
                            "VALUES (%s, to_timestamp(%s), %s::jsonb, %s::jsonb) ON CONFLICT (symbol) DO NOTHING",
                            (symbol, stream.last_ts, params_json, state))
            else:
                cur.execute("UPDATE symbol_state SET last_ts = to_timestamp(%s), params = %s::jsonb, "
                            "state = %s::jsonb, updated_at = now() WHERE symbol = %s AND updated_at = %s",
                            (stream.last_ts, params_json, state, symbol, row[2]))
            outcome = REBUILT if cur.rowcount == 1 else CHANGED_MEANWHILE
        conn.commit()
    finally:
        raw.close()
    log.info("%s: indicator state %s from %s and %d stored bars%s", symbol, outcome,
             "a checkpoint" if source.start is not None else "nothing", len(bars),
             " (bars before the first were dropped by retention: the state starts from what is kept)"
             if source.cut else "")
    return outcome
