"""Property-based fuzzing of POST /ingest on the real Kafka: ≥ 2,000 generated requests.

Properties: no 5xx ever; every record built valid is accepted; every message on the clean
topics satisfies the data contract (checked here by independent rules, not by the validator
under test); the clean topics hold exactly as many messages as were accepted.
"""
from __future__ import annotations

import json
import math
import time

import orjson
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from support import wait_until

from services.config import Settings
from services.core.records import DEFAULT_MAX_FUTURE_SKEW_S
from services.ingest.app import create_app
from services.kafka_io import make_consumer

REQUESTS = 2_000
NOW = time.time()
SYMBOLS = ("AAPL", "GOOGL", "AMZN", "MSFT", "TSLA")
FIELDS = {
    "stock_price": {"stock_symbol", "opening_price", "closing_price", "high", "low", "volume", "timestamp"},
    "order_book": {"data_type", "timestamp", "stock_symbol", "order_type", "price", "quantity"},
    "news_sentiment": {"data_type", "timestamp", "stock_symbol", "sentiment_score", "sentiment_magnitude"},
    "market_data": {"data_type", "timestamp", "stock_symbol", "market_cap", "pe_ratio"},
    "economic_indicator": {"data_type", "timestamp", "indicator_name", "value"},
}

price = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
past_ts = st.floats(min_value=1e9, max_value=NOW, allow_nan=False)
symbol = st.sampled_from(SYMBOLS)


@st.composite
def candles(draw: st.DrawFn) -> dict:
    o, c = draw(price), draw(price)
    return {"stock_symbol": draw(symbol), "opening_price": o, "closing_price": c,
            "high": max(o, c) + draw(st.floats(0, 100)), "low": min(o, c) * draw(st.floats(0.5, 1.0)),
            "volume": draw(st.integers(0, 10**12) | st.floats(0, 10**12)), "timestamp": draw(past_ts)}


valid_records = st.one_of(
    candles(),
    st.fixed_dictionaries({"data_type": st.just("order_book"), "timestamp": past_ts, "stock_symbol": symbol,
                           "order_type": st.sampled_from(["buy", "sell"]), "price": price,
                           "quantity": st.integers(1, 10**9)}),
    st.fixed_dictionaries({"data_type": st.just("news_sentiment"), "timestamp": past_ts, "stock_symbol": symbol,
                           "sentiment_score": st.floats(-1, 1), "sentiment_magnitude": st.floats(0, 1)}),
    st.fixed_dictionaries({"data_type": st.just("market_data"), "timestamp": past_ts, "stock_symbol": symbol,
                           "market_cap": price, "pe_ratio": st.floats(-1e4, 1e4)}),
    st.fixed_dictionaries({"data_type": st.just("economic_indicator"), "timestamp": past_ts,
                           "indicator_name": st.sampled_from(["CPI", "GDP_growth"]), "value": st.floats(-1e6, 1e6)}),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def broken_records(draw: st.DrawFn) -> dict:
    record = dict(draw(valid_records))
    key = draw(st.sampled_from(sorted(record)))
    action = draw(st.sampled_from(["drop", "replace", "extra"]))
    if action == "drop":
        del record[key]
    elif action == "replace":
        record[key] = draw(json_values | st.sampled_from([-1.0, 0.0, 1e300, "1.0", NOW + 10**6, 2**70]))
    else:
        record[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in record))] = draw(json_values)
    return record


def is_count(value: object) -> bool:
    """Counts are JSON integers exact as a float64 (so within PostgreSQL's bigint too)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**53 - 1


def is_volume(value: object) -> bool:
    """A candle's volume: any number from 0 to 2^53 - 1, whole or fractional (README, "Real market data")."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 2**53 - 1


def is_price(value: float) -> bool:
    """Positive, and small enough that a window of squares stays finite (README: at most 10^12)."""
    return 0 < value <= 1e12


def satisfies_contract(raw: dict) -> bool:
    """Independent restatement of the README's record contract ("Ingest API") (on published payloads, which carry
    no stock_price type)."""
    kind = raw.get("data_type", "stock_price")
    if not isinstance(kind, str) or set(raw) != FIELDS.get(kind, set()) - (
            {"data_type"} if kind == "stock_price" else set()) | (set() if kind == "stock_price" else {"data_type"}):
        return False
    numbers = [v for k, v in raw.items() if k not in ("data_type", "stock_symbol", "order_type", "indicator_name")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in numbers):
        return False
    # from 1900-01-01 to year 9999 and at most the allowed clock skew ahead
    if not -2_208_988_800 <= raw["timestamp"] <= min(time.time() + DEFAULT_MAX_FUTURE_SKEW_S, 253_402_300_799):
        return False
    if kind != "economic_indicator" and raw["stock_symbol"] not in SYMBOLS:
        return False
    if kind == "stock_price":
        o, c, h, lo = raw["opening_price"], raw["closing_price"], raw["high"], raw["low"]
        return all(map(is_price, (o, c, h, lo))) and h >= max(o, c) and lo <= min(o, c) and is_volume(raw["volume"])
    if kind == "order_book":
        return raw["order_type"] in ("buy", "sell") and is_price(raw["price"]) and is_count(raw["quantity"]) \
            and raw["quantity"] > 0
    if kind == "news_sentiment":
        return -1 <= raw["sentiment_score"] <= 1 and 0 <= raw["sentiment_magnitude"] <= 1
    if kind == "market_data":
        return raw["market_cap"] > 0
    name = raw["indicator_name"]
    return isinstance(name, str) and name != "" and not any(ch < " " or ch == "\x7f" for ch in name)


def clean_messages(stack: Settings, expected: int) -> list[dict]:
    consumer = make_consumer(stack.kafka_bootstrap, None)
    try:
        parts = [TopicPartition(t, p) for t in stack.topics.by_record_type.values()
                 for p in consumer.partitions_for_topic(t)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        got: list = []
        wait_until(lambda: got.extend(r for rs in consumer.poll(300, max_records=5000).values() for r in rs)
                   or len(got) >= expected, timeout=60, interval=0, what=f"{expected} clean messages")
        assert not consumer.poll(500), "more messages than records accepted"
        return [orjson.loads(r.value) for r in got]
    finally:
        consumer.close()


def test_fuzzed_requests_never_5xx_and_only_valid_records_pass(stack: Settings) -> None:
    tally = {"requests": 0, "accepted": 0, "valid_sent": 0}
    bodies = st.lists(st.tuples(st.booleans(), st.one_of(valid_records, broken_records(), json_values)),
                      min_size=1, max_size=12)

    with TestClient(create_app(stack)) as client:
        @settings(max_examples=REQUESTS, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(body=bodies, as_object=st.booleans())
        def post(body: list[tuple[bool, object]], as_object: bool) -> None:
            records = [r for _, r in body]
            payload = records[0] if as_object and len(records) == 1 and isinstance(records[0], dict) else records
            # json, not orjson: the fuzz includes integers beyond 64 bits, which orjson refuses to write.
            body_bytes = json.dumps(payload, allow_nan=False).encode()
            resp = client.post("/ingest", content=body_bytes, headers={"content-type": "application/json"})
            tally["requests"] += 1
            assert resp.status_code in (200, 422), (resp.status_code, resp.text)
            results = resp.json()["results"]
            assert len(results) == len(records)
            tally["accepted"] += resp.json()["accepted"]
            for record, result in zip(records, results):
                if isinstance(record, dict) and satisfies_contract({k: v for k, v in record.items()
                                                                    if k != "data_type" or v != "stock_price"}):
                    tally["valid_sent"] += 1
                    assert result["status"] == "accepted", (record, result)

        post()

    assert tally["requests"] >= REQUESTS and tally["valid_sent"] > REQUESTS // 2
    messages = clean_messages(stack, tally["accepted"])
    assert len(messages) == tally["accepted"]
    invalid = [m for m in messages if not satisfies_contract(m)]
    assert invalid == []
