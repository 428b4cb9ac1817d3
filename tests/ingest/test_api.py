"""Ingest API against the real local Kafka: verdicts, error codes, and what reaches the topics."""
from __future__ import annotations

import time

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from support import wait_until

from services.config import Settings
from services.ingest.app import create_app
from services.ingest.ops import ops_app
from services.kafka_io import make_consumer

NOW = time.time()


def candle(symbol: str = "AAPL", ts: float = NOW - 60, **over: object) -> dict:
    rec = {"stock_symbol": symbol, "opening_price": 100.0, "closing_price": 101.0, "high": 102.0,
           "low": 99.5, "volume": 1000, "timestamp": ts}
    rec.update(over)
    return rec


def published(record: dict) -> dict:
    """A record as ingest publishes it: its timestamp kept to the microsecond PostgreSQL stores."""
    return {**record, "timestamp": round(record["timestamp"], 6)}


def read_topic(settings: Settings, topic: str, expected: int) -> list[dict]:
    consumer = make_consumer(settings.kafka_bootstrap, None)
    try:
        from kafka import TopicPartition

        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        got: list = []

        def enough() -> bool:
            for records in consumer.poll(timeout_ms=200).values():
                got.extend(records)
            return len(got) >= expected

        wait_until(enough, 20, 0, f"{expected} messages on {topic}")
        return [{"key": r.key, "value": orjson.loads(r.value), "partition": r.partition} for r in got]
    finally:
        consumer.close()


def test_mixed_batch_reports_each_record_and_routes_it(client: TestClient, stack: Settings) -> None:
    batch = [
        candle("AAPL"),
        candle("MSFT", high=99.0),                       # high below open/close
        {"data_type": "news_sentiment", "timestamp": NOW - 5, "stock_symbol": "TSLA",
         "sentiment_score": 0.4, "sentiment_magnitude": 0.9},
        {"data_type": "weather", "timestamp": NOW},      # unknown type
        candle("TSLA", volume=-3),
        {"data_type": "economic_indicator", "timestamp": NOW - 5, "indicator_name": "CPI", "value": 3.2},
    ]
    resp = client.post("/ingest", json=batch)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["accepted"], body["rejected"]) == (3, 3)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "accepted", "rejected",
                                                      "rejected", "accepted"]
    assert body["results"][1]["errors"][0]["field"] == "high"
    assert body["results"][3]["errors"][0]["field"] == "data_type"
    assert body["results"][4]["errors"][0]["field"] == "volume"

    prices = read_topic(stack, stack.topics.prices, 1)
    assert [(m["key"], m["value"]) for m in prices] == [(b"AAPL", published(batch[0]))]
    assert read_topic(stack, stack.topics.by_record_type["news_sentiment"], 1)[0]["value"] == published(batch[2])
    assert read_topic(stack, stack.topics.by_record_type["economic_indicator"], 1)[0]["key"] == b"CPI"

    rejected = read_topic(stack, stack.topics.rejected, 3)
    assert sorted(m["value"]["index"] for m in rejected) == [1, 3, 4]
    by_index = {m["value"]["index"]: m["value"] for m in rejected}
    assert by_index[1]["record"] == batch[1] and by_index[1]["errors"][0]["field"] == "high"
    assert "weather" in by_index[3]["reason"]


def test_all_rejected_is_422_naming_index_and_field(client: TestClient) -> None:
    resp = client.post("/ingest", json=[candle(low=101.5), candle(extra_field=1), candle("NOPE")])
    assert resp.status_code == 422
    results = resp.json()["results"]
    assert [(r["index"], r["errors"][0]["field"]) for r in results] == [
        (0, "low"), (1, "extra_field"), (2, "stock_symbol")]
    assert "Extra inputs are not permitted" in results[1]["errors"][0]["message"]


@pytest.mark.parametrize(
    ("record", "field", "fragment"),
    [
        ({"opening_price": 0.0}, "opening_price", "greater than 0"),
        ({"closing_price": "101.0"}, "closing_price", "valid number"),
        ({"volume": "10.5"}, "volume", "valid number"),
        ({"timestamp": NOW + 3600}, "timestamp", "ahead of this server's clock"),
    ],
)
def test_single_record_rules(client: TestClient, record: dict, field: str, fragment: str) -> None:
    resp = client.post("/ingest", json=candle(**record))
    assert resp.status_code == 422
    error = resp.json()["results"][0]["errors"][0]
    assert error["field"] == field and fragment in error["message"]


def test_a_candle_beyond_the_clock_skew_is_refused_naming_the_limit(client: TestClient, stack: Settings) -> None:
    """A real feed's bar is never from the future: the default skew is seconds, not minutes."""
    skew = stack.max_future_skew_seconds
    assert skew <= 10
    resp = client.post("/ingest", json=[candle(ts=time.time() + skew + 30), candle(ts=time.time() + skew / 2)])
    assert resp.status_code == 200
    first, second = resp.json()["results"]
    assert first["status"] == "rejected" and second["status"] == "accepted", resp.json()
    error, = first["errors"]
    assert error["field"] == "timestamp"
    assert f"s ahead of this server's clock; at most {skew:g} s of clock skew is allowed" in error["message"]


def test_one_object_is_accepted(client: TestClient) -> None:
    resp = client.post("/ingest", json=candle())
    assert resp.status_code == 200
    assert resp.json() == {"accepted": 1, "rejected": 0, "results": [{"index": 0, "status": "accepted"}]}


def test_bad_requests_get_clear_4xx(client: TestClient, stack: Settings) -> None:
    r = client.post("/ingest", content=b"[{", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = client.post("/ingest", content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    r = client.post("/ingest", json=[])
    assert r.status_code == 422
    r = client.post("/ingest", json=[candle()] * (stack.ingest_max_batch + 1))
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    big = b"[" + b" " * stack.ingest_max_body_bytes + b"]"
    r = client.post("/ingest", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_health_and_readiness(client: TestClient, ops: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    client.post("/ingest", json=[candle(), {**candle(), "high": 1.0}, {**candle(), "surprise": 1}])
    metrics = ops.get("/metrics").text
    assert "tickflow_ingest_requests_total 1.0" in metrics
    assert 'tickflow_ingest_rejected_total{reason="high"} 1.0' in metrics
    assert 'tickflow_ingest_rejected_total{reason="unexpected_field"} 1.0' in metrics
    assert 'tickflow_ingest_accepted_total{type="stock_price"} 1.0' in metrics
    assert 'tickflow_ingest_request_duration_seconds_count{status="200"} 1.0' in metrics
    assert "tickflow_ingest_kafka_publish_seconds_count 1.0" in metrics
    assert ops.get("/openapi.json").json()["paths"]["/ingest"]["post"]
    assert "swagger-ui" in ops.get("/docs").text
    # The public port serves none of it: metrics and docs stay off the LoadBalancer.
    assert [client.get(path).status_code for path in ("/metrics", "/docs", "/openapi.json")] == [404] * 3


def test_kafka_unreachable_is_503_with_retry_after(stack: Settings) -> None:
    """A broker address where nothing listens stands in for an outage (issue 3 stops the real one)."""
    from support import free_port

    dead = stack.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    from services.ingest.publisher import Publisher

    class NoProducer:
        def send(self, *a: object, **k: object) -> None:
            raise AssertionError("must not try to send when Kafka is unreachable")

    app = create_app(dead, publisher=Publisher(NoProducer(), dead.kafka_bootstrap, dead.topics))  # type: ignore[arg-type]
    with TestClient(app) as c:
        r = c.post("/ingest", json=[candle()])
        assert r.status_code == 503 and r.headers["retry-after"] == "2"
        assert c.get("/readyz").status_code == 503


def test_tokens_guard_writes(stack: Settings) -> None:
    secured = stack.model_copy(update={"ingest_tokens": (SecretStr("s3cret-one"), SecretStr("s3cret-two"))})
    with TestClient(create_app(secured)) as c:
        missing = c.post("/ingest", json=candle())
        wrong = c.post("/ingest", json=candle(), headers={"Authorization": "Bearer nope"})
        basic = c.post("/ingest", json=candle(), headers={"Authorization": "Basic s3cret-two"})
        good = c.post("/ingest", json=candle(), headers={"Authorization": "Bearer s3cret-two"})
        assert (missing.status_code, wrong.status_code, basic.status_code, good.status_code) == (401, 401, 401, 200)
        assert missing.headers["www-authenticate"] == "Bearer"
        assert "missing Authorization" in missing.json()["detail"] and wrong.json()["detail"] == "invalid token"
        assert good.json()["accepted"] == 1
        assert c.get("/healthz").status_code == 200  # probes need no token
        assert "tickflow_ingest_unauthorized_total 3.0" in TestClient(ops_app(c.app)).get("/metrics").text


def test_real_instruments_are_accepted_by_the_allow_list_pattern(stack: Settings) -> None:
    """README "Real market data": the configured list, plus symbols matching TICKFLOW_SYMBOL_PATTERN."""
    real = stack.with_updates(symbol_pattern=r"[A-Z]{1,5}|[A-Z]{3}/USD")
    sent = [candle("BTC/USD", NOW - 30, opening_price=0.5, closing_price=0.51, high=0.52, low=0.49, volume=0.125),
            candle("GOOG", -631_152_000.0), candle("AAPL", NOW - 20), candle("DOGE/EUR"), candle("EURUSDX")]
    with TestClient(create_app(real)) as client:
        body = client.post("/ingest", json=sent).json()
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3 + ["rejected"] * 2
    assert "matching '[A-Z]{1,5}|[A-Z]{3}/USD'" in body["results"][3]["errors"][0]["message"]
    got = read_topic(real, real.topics.prices, 3)
    assert sorted((m["key"], m["value"]["volume"]) for m in got) == [
        (b"AAPL", 1000), (b"BTC/USD", 0.125), (b"GOOG", 1000)]
    with TestClient(create_app(stack)) as client:  # no pattern: the list only
        assert client.post("/ingest", json=[candle("GOOG")]).json()["results"][0]["status"] == "rejected"
