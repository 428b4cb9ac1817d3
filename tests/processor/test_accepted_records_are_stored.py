"""Property: every record the shared validation accepts, the processor stores - none dead-lettered,
no crash - across the whole accepted range (real Kafka and PostgreSQL, records produced straight to
the topics as any producer could).

Hypothesis draws records from the edges of the contract: prices from the smallest subnormal to
MAX_PRICE, counts and volumes (whole or fractional) up to MAX_COUNT, any finite float where the
contract allows it, timestamps from 1900 to now, symbols such as BTC/USD, any printable Unicode in
text. Candles may arrive late or duplicated (they go to late_bars, by the rules); every other
record is stored under its natural key.
"""
from __future__ import annotations

import math
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from namespaces import namespaced, own_topics
from processor_thread import processor_thread
from sqlalchemy import Engine, text
from streams import produce, truncate_outputs, wait_processed

from services.config import Settings
from services.core.indicators import INDICATOR_COLUMNS
from services.core.records import MAX_COUNT, MAX_PRICE, MIN_TIMESTAMP, Rejection, ValidationContext, validate_record

NOW = time.time()
TINY = 5e-324
FINITE = st.floats(allow_nan=False, allow_infinity=False)
price = st.floats(min_value=TINY, max_value=MAX_PRICE)
timestamp = st.floats(min_value=MIN_TIMESTAMP, max_value=NOW)
symbol = st.from_regex(r"\A[A-Z0-9][A-Z0-9.\-]{0,6}(/[A-Z0-9][A-Z0-9.\-]{0,7})?\Z")  # 16 at most
# Candles of a few symbols, so indicator windows fill (Bollinger needs 20 bars) and the engine's
# sums see the extreme prices together.
candle_symbol = st.sampled_from(["AAPL", "BRK.A", "BTC/USD"])
text_field = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=64)


@st.composite
def candles(draw: st.DrawFn) -> dict:
    o, c = draw(price), draw(price)
    return {"stock_symbol": draw(candle_symbol), "opening_price": o, "closing_price": c,
            "high": draw(st.floats(min_value=max(o, c), max_value=MAX_PRICE)),
            "low": draw(st.floats(min_value=TINY, max_value=min(o, c))),
            "volume": draw(st.one_of(st.integers(0, MAX_COUNT), st.floats(0, MAX_COUNT))),
            "timestamp": draw(timestamp)}


records = st.one_of(
    candles(), candles(), candles(), candles(), candles(),
    st.fixed_dictionaries({"data_type": st.just("order_book"), "timestamp": timestamp, "stock_symbol": symbol,
                           "order_type": st.sampled_from(["buy", "sell"]), "price": price,
                           "quantity": st.integers(1, MAX_COUNT)}),
    st.fixed_dictionaries({"data_type": st.just("news_sentiment"), "timestamp": timestamp, "stock_symbol": symbol,
                           "sentiment_score": st.floats(-1, 1), "sentiment_magnitude": st.floats(0, 1)}),
    st.fixed_dictionaries({"data_type": st.just("market_data"), "timestamp": timestamp, "stock_symbol": symbol,
                           "market_cap": st.floats(min_value=TINY, allow_infinity=False), "pe_ratio": FINITE}),
    st.fixed_dictionaries({"data_type": st.just("economic_indicator"), "timestamp": timestamp,
                           "indicator_name": text_field, "value": FINITE}),
)
NATURAL_KEYS = {  # table -> (record type, key fields as stored, the same fields of a record)
    "order_book": ("order_book", "symbol, round(extract(epoch FROM ts)::numeric, 6)::float8, order_type",
                   ("stock_symbol", "timestamp", "order_type")),
    "news_sentiment": ("news_sentiment", "symbol, round(extract(epoch FROM ts)::numeric, 6)::float8",
                       ("stock_symbol", "timestamp")),
    "market_data": ("market_data", "symbol, round(extract(epoch FROM ts)::numeric, 6)::float8",
                    ("stock_symbol", "timestamp")),
    "economic_indicators": ("economic_indicator", "indicator_name, round(extract(epoch FROM ts)::numeric, 6)::float8",
                            ("indicator_name", "timestamp")),
}


def expected_bars(candles_in_order: list[dict]) -> tuple[set, int]:
    """Bars the stream applies (a later timestamp than the symbol's last), and how many it skips."""
    last: dict[str, float] = {}
    applied, skipped = set(), 0
    for c in candles_in_order:
        ts = round(c["timestamp"], 6)
        if c["stock_symbol"] in last and ts <= last[c["stock_symbol"]]:
            skipped += 1
            continue
        last[c["stock_symbol"]] = ts
        applied.add((c["stock_symbol"], ts))
    return applied, skipped


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(drawn=st.lists(records, min_size=120, max_size=120))
def test_every_accepted_record_is_stored(stack: Settings, owner_db: Engine, drawn: list[dict]) -> None:
    # Candles mostly in time order (as a feed sends them), so most are applied; equal times remain.
    batch = sorted(drawn, key=lambda r: r["timestamp"] if "data_type" not in r else 0.0)
    ctx = ValidationContext(now=time.time())
    assert not [r for r in batch if isinstance(validate_record(r, ctx), Rejection)], "the strategy drew a bad record"
    example = namespaced(stack, processor_session_timeout_ms=6000)
    truncate_outputs(owner_db)
    with own_topics(example):
        produce(example, batch)
        with processor_thread(example) as (_, runner):
            wait_processed(owner_db, example, timeout=120)
    assert not runner.is_alive()

    with owner_db.connect() as conn:
        dead = conn.execute(text("SELECT reason FROM dead_letters")).scalars().all()
        assert dead == [], dead
        # Kafka keeps each symbol's records in order (one key, one partition): the stream's order.
        candles_in_order = [r for r in batch if "data_type" not in r]
        applied, skipped = expected_bars(candles_in_order)
        bars = set(map(tuple, conn.execute(text(
            "SELECT symbol, round(extract(epoch FROM ts)::numeric, 6)::float8 FROM bars "
            "WHERE timeframe = 'raw'")).all()))
        assert bars == applied
        assert conn.execute(text("SELECT count(*) FROM late_bars")).scalar_one() == skipped
        values = conn.execute(text(f"SELECT {', '.join(INDICATOR_COLUMNS)} FROM bars")).all()  # rolled ones too
        assert all(v is None or math.isfinite(v) for row in values for v in row)
        for table, (kind, stored_key, fields) in NATURAL_KEYS.items():
            stored = set(map(tuple, conn.execute(text(f"SELECT {stored_key} FROM {table}")).all()))
            sent = {tuple(round(r[f], 6) if f == "timestamp" else r[f] for f in fields)
                    for r in batch if r.get("data_type") == kind}
            assert stored == sent, table
