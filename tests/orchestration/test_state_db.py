"""rebuild_symbol_state on the real PostgreSQL: after an indicator-settings change the processor
can continue from a state equal to a stream run with the new settings from the first bar."""
from __future__ import annotations

from dataclasses import asdict

import orjson
import pytest
from orchestration_data import insert_stream_data, stream_rows
from sqlalchemy import Engine, text

from services.config import Settings
from services.core.indicators import IndicatorParams
from services.core.records import StockPrice
from services.core.signals import SignalRules
from services.core.stream import SymbolStream
from services.orchestration.indicators.state import CURRENT, NO_BARS, REBUILT, rebuild_symbol_state
from services.processor.store import BatchWriter

OLD, NEW = IndicatorParams(), IndicatorParams(rsi_period=10, sma_period=30)


def store_state(engine: Engine, stream: SymbolStream, params: IndicatorParams) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO symbol_state (symbol, last_ts, params, state) VALUES "
                          "(:s, to_timestamp(:t), CAST(:p AS jsonb), CAST(:st AS jsonb))"),
                     {"s": stream.symbol, "t": stream.last_ts, "p": orjson.dumps(asdict(params)).decode(),
                      "st": orjson.dumps(stream.to_state()).decode()})


def stored(engine: Engine, symbol: str) -> tuple[dict, dict, object]:
    with engine.connect() as conn:
        return tuple(conn.execute(text("SELECT params, state, updated_at FROM symbol_state WHERE symbol = :s"),
                                  {"s": symbol}).one())  # type: ignore[return-value]


def replay(bars: list[tuple], symbol: str, params: IndicatorParams) -> SymbolStream:
    stream = SymbolStream(symbol, params, SignalRules())
    for s, ts, _o, _h, _l, close, *_ in bars:
        if s == symbol:
            stream.apply(StockPrice.model_construct(stock_symbol=s, timestamp=ts, closing_price=close))
    return stream


def test_a_changed_setting_gets_a_state_the_processor_accepts(orch_db: Engine, base_settings: Settings) -> None:
    bars, signals = stream_rows(("AAPL", "MSFT"), 700, seed=5)
    insert_stream_data(orch_db, bars, signals)
    store_state(orch_db, replay(bars, "AAPL", OLD), OLD)  # what the processor left, with the old settings

    writer = BatchWriter(base_settings.database_url, "test", asdict(NEW))
    try:
        with pytest.raises(RuntimeError, match="run the indicator_backfill DAG for AAPL"):
            writer.load_states(["AAPL"])

        assert rebuild_symbol_state(orch_db, "AAPL", NEW) == REBUILT
        params, state, _ = stored(orch_db, "AAPL")
        expected = replay(bars, "AAPL", NEW)
        assert params == asdict(NEW)
        assert state == orjson.loads(orjson.dumps(expected.to_state()))  # bit for bit, through JSON
        assert state["engine"]["params"] == asdict(NEW) and state["last_ts"] == bars[-2][1]

        restored = SymbolStream.from_state("AAPL", writer.load_states(["AAPL"])["AAPL"], NEW, SignalRules())
        nxt = StockPrice.model_construct(stock_symbol="AAPL", timestamp=bars[-1][1] + 60, closing_price=123.4)
        assert restored.apply(nxt).values == expected.apply(nxt).values  # it continues exactly
    finally:
        writer.close()


def test_a_current_state_is_left_alone_and_a_symbol_without_state_gets_one(orch_db: Engine) -> None:
    bars, signals = stream_rows(("AAPL", "MSFT"), 300, seed=6)
    insert_stream_data(orch_db, bars, signals)
    store_state(orch_db, replay(bars, "AAPL", OLD), OLD)
    before = stored(orch_db, "AAPL")
    assert rebuild_symbol_state(orch_db, "AAPL", OLD) == CURRENT
    assert stored(orch_db, "AAPL") == before  # not even updated_at moved

    assert rebuild_symbol_state(orch_db, "MSFT", OLD) == REBUILT  # bars but no state yet
    assert stored(orch_db, "MSFT")[1] == orjson.loads(orjson.dumps(replay(bars, "MSFT", OLD).to_state()))
    assert rebuild_symbol_state(orch_db, "TSLA", OLD) == NO_BARS
