"""Helpers for tests that drive the processor over a prepared Kafka stream and compare tables."""
from __future__ import annotations

import math
import time
from typing import Any

import orjson
from kafka import TopicPartition
from sqlalchemy import Engine, text
from support import DATA_TABLES, wait_until

from services.config import Settings
from services.core.records import PRICE_TYPE
from services.core.simulation import MarketSimulator, RecordMix, is_candle
from services.kafka_io import make_consumer, make_producer

CANDLES_ONLY = RecordMix(order_book=0.0, news=0.0, market_data=0.0, economic=0.0, news_shock=0.0)
SPARSE_SIDE_RECORDS = RecordMix(order_book=0.05, news=0.02, market_data=0.01, economic=0.02)

# What "the same result" means: every output table, without columns that record wall-clock time.
COMPARED = {
    "bars": "SELECT timeframe, * FROM bars ORDER BY symbol, timeframe, ts",  # base bars and rolled candles
    "signals": ("SELECT symbol, timeframe, ts, rule, side, price, value, reference FROM signals "
                "ORDER BY symbol, timeframe, ts, rule"),
    "late_bars": "SELECT topic, kafka_partition, kafka_offset, symbol, ts, reason FROM late_bars ORDER BY 1, 2, 3",
    "dead_letters": "SELECT topic, kafka_partition, kafka_offset, reason FROM dead_letters ORDER BY 1, 2, 3",
    "order_book": "SELECT * FROM order_book ORDER BY 1, 2, 3",
    "news_sentiment": "SELECT * FROM news_sentiment ORDER BY 1, 2",
    "market_data": "SELECT * FROM market_data ORDER BY 1, 2",
    "economic_indicators": "SELECT * FROM economic_indicators ORDER BY 1, 2",
    "symbol_state": "SELECT symbol, last_ts, state FROM symbol_state ORDER BY symbol",
}


def simulated_records(settings: Settings, candles: int, seed: int = 11, mix: RecordMix = CANDLES_ONLY,
                      interval: float = 1.0) -> list[dict]:
    start = math.floor(time.time()) - 30 * 86_400
    sim = MarketSimulator(settings.symbols, seed, start, interval, mix)
    return [record for tick in sim.stream(candles) for record in tick]


def produce(settings: Settings, records: list[dict]) -> int:
    """Publish records to their topics the way ingest does (key = symbol), acks=all."""
    topics = settings.topics.by_record_type
    producer = make_producer(settings.kafka_bootstrap, linger_ms=20)
    try:
        for record in records:
            kind = PRICE_TYPE if is_candle(record) else record["data_type"]
            key = record.get("stock_symbol") or record["indicator_name"]
            producer.send(topics[kind], key=key.encode(), value=orjson.dumps(record))
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return len(records)


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = make_consumer(settings.kafka_bootstrap, None)
    try:
        parts = [TopicPartition(t, p) for t in settings.topics.by_record_type.values()
                 for p in consumer.partitions_for_topic(t) or ()]
        return {(tp.topic, tp.partition): o for tp, o in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def stored_offsets(db: Engine, group: str) -> dict[tuple[str, int], int]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT topic, kafka_partition, next_offset FROM processor_offsets "
                                 "WHERE consumer_group = :g"), {"g": group}).all()
    return {(t, p): o for t, p, o in rows}


def wait_processed(db: Engine, settings: Settings, group: str | None = None, timeout: float = 120) -> None:
    """Wait until the group's stored offsets reach the end of every partition."""
    group = group or settings.processor_group
    ends = {tp: o for tp, o in end_offsets(settings).items() if o > 0}
    wait_until(lambda: all(stored_offsets(db, group).get(tp, 0) >= o for tp, o in ends.items()),
               timeout=timeout, interval=0.2, what=f"group {group} to reach offsets {ends}")


def snapshot(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with db.connect() as conn:
        return {table: [tuple(r) for r in conn.execute(text(sql)).all()] for table, sql in COMPARED.items()}


def base_bars(tables: dict[str, list[tuple[Any, ...]]]) -> int:
    """Base bars in a `snapshot` (its bars hold the rolled-up candles too)."""
    return sum(1 for row in tables["bars"] if row[0] == "raw")


def count_bars(db: Engine) -> int:
    """Stored base bars (rolled-up candles not counted)."""
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM bars WHERE timeframe = 'raw'")).scalar_one()


def truncate_outputs(db: Engine) -> None:
    with db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)}"))

