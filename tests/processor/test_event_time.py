"""Event time on the real Kafka and PostgreSQL: no single record may make a symbol's genuine bars late.

The processor can be fed straight from Kafka, past ingest, so it holds both rules itself: a record
more than the allowed skew ahead of the time Kafka stamped on it, and a record keyed by anything but
its own symbol, go to the dead letters and never move a symbol's event time.
"""
from __future__ import annotations

import time

import orjson
from kafka.admin import ConfigResource, ConfigResourceType
from processor_thread import processor_thread
from sqlalchemy import Engine, text
from streams import wait_processed

from services.config import Settings
from services.kafka_io import make_admin, make_producer

GENUINE = 20  # bars per symbol, half a second apart, ending now


def candle(symbol: str, ts: float, close: float = 100.0) -> dict:
    return {"stock_symbol": symbol, "opening_price": close, "closing_price": close, "high": close + 1,
            "low": close - 1, "volume": 10, "timestamp": round(ts, 6)}


def test_a_future_or_misplaced_record_is_a_dead_letter_and_genuine_bars_stay_on_time(
    stack: Settings, owner_db: Engine
) -> None:
    now = time.time()
    skew = stack.max_future_skew_seconds
    producer = make_producer(stack.kafka_bootstrap)

    def send(key: bytes, record: dict, **kw: object) -> None:
        producer.send(stack.topics.prices, key=key, value=orjson.dumps(record), **kw)

    # What an independent probe did: one AAPL candle 290 s ahead, which silenced AAPL for five minutes.
    # Its producer also claims that time, which the broker's own stamp (LogAppendTime) overrides.
    send(b"AAPL", candle("AAPL", now + 290), timestamp_ms=int((now + 3600) * 1000))
    # A valid X000 candle produced with AAPL's key lands on AAPL's partition; its order against
    # X000's own bars would depend on timing across partitions.
    send(b"AAPL", candle("X000", now - 1, close=50.0))
    for i in range(GENUINE):
        ts = now - (GENUINE - 1 - i) * 0.5
        send(b"AAPL", candle("AAPL", ts))
        send(b"X000", candle("X000", ts - 0.25, close=50.0))
    producer.flush(30)
    producer.close()

    with processor_thread(stack):
        wait_processed(owner_db, stack, timeout=120)

    with owner_db.connect() as conn:
        bars = dict(conn.execute(text(
            "SELECT symbol, count(*) FROM bars WHERE timeframe = 'raw' GROUP BY symbol")).all())
        late = conn.execute(text("SELECT count(*) FROM late_bars")).scalar_one()
        dead = [r for r, in conn.execute(text("SELECT reason FROM dead_letters ORDER BY kafka_offset")).all()]
    assert bars == {"AAPL": GENUINE, "X000": GENUINE}
    assert late == 0, "no genuine bar may be made late"
    assert len(dead) == 2, dead
    assert any(r.startswith("invalid record: timestamp: ") and "ahead of the time it reached Kafka; "
               f"at most {skew:g} s of clock skew is allowed" in r for r in dead), dead
    assert "keyed b'AAPL', not by its stock_symbol 'X000' as ingest keys it" in dead


def test_record_topics_are_stamped_by_the_broker(stack: Settings) -> None:
    """The processor judges event time by the broker's stamp, which no producer can set."""
    admin = make_admin(stack.kafka_bootstrap)
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t)
                                            for t in stack.topics.by_record_type.values()])
    finally:
        admin.close()
    types = {topic: configs["message.timestamp.type"]["value"] for topic, configs in described["topic"].items()}
    assert types == {topic: "LogAppendTime" for topic in stack.topics.by_record_type.values()}
