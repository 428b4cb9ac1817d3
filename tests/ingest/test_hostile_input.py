"""Hostile input at POST /ingest never gets a 5xx, and answers stay proportional (real local Kafka);
unfinished request headers are timed out.

Covers what an attacker found: a body nested 255+ levels deep (a 500 before), a rejected record
larger than Kafka's message limit (a 503 "retry later" before), a request of invalid records whose
answer was six times its size, slow request bodies, and an OpenAPI without the request body.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from running_services import start_ingest
from support import open_unfinished_requests, read_until_closed, service_env
from test_api import candle, read_topic

from services.config import Settings
from services.ingest.judge import MAX_ERRORS_PER_RECORD
from services.ingest.publisher import MAX_REJECTED_RECORD_BYTES


def post(client: TestClient, body: bytes):
    return client.post("/ingest", content=body, headers={"content-type": "application/json"})


@pytest.mark.parametrize("depth", [33, 255, 1000])
def test_deeply_nested_bodies_are_a_400(client: TestClient, depth: int) -> None:
    for body in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        response = post(client, body)
        assert response.status_code == 400, response.text
        assert "nested more than 32 levels" in response.json()["detail"]


def test_a_record_nested_inside_a_field_is_still_judged_per_record(client: TestClient) -> None:
    response = post(client, orjson.dumps([candle(), candle(stock_symbol=[[[["AAPL"]]]])]))
    assert response.status_code == 200
    assert response.json()["results"][1]["errors"][0]["field"] == "stock_symbol"


def test_a_rejected_record_over_kafkas_message_limit_is_a_422_and_kept_as_an_excerpt(
    client: TestClient, stack: Settings
) -> None:
    huge = "A" * 2_000_000
    response = post(client, orjson.dumps(candle(stock_symbol=huge)))
    assert response.status_code == 422, response.text
    (error,) = response.json()["results"][0]["errors"]
    assert error["field"] == "stock_symbol" and "at most 16 characters" in error["message"]
    (dead,) = read_topic(stack, stack.topics.rejected, 1)
    kept = dead["value"]
    assert kept["record_bytes"] == len(orjson.dumps(candle(stock_symbol=huge)))
    assert kept["record_excerpt"].startswith('{"stock_symbol":"AAAA')
    assert len(kept["record_excerpt"]) == MAX_REJECTED_RECORD_BYTES and "record" not in kept


def test_the_answer_to_many_invalid_records_stays_proportional(client: TestClient) -> None:
    noisy = {**candle(), **{f"unexpected_field_{i:03d}": "x" for i in range(40)}}
    body = orjson.dumps([noisy] * 2_000)
    response = post(client, body)
    assert response.status_code == 422
    results = response.json()["results"]
    assert len(results) == 2_000
    assert all(len(r["errors"]) == MAX_ERRORS_PER_RECORD and r["more_errors"] == 35 for r in results)
    assert len(response.content) < len(body), (len(response.content), len(body))


def test_openapi_documents_the_request_body(ops: TestClient) -> None:
    spec = ops.get("/openapi.json").json()
    body = spec["paths"]["/ingest"]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    refs = orjson.dumps(schema).decode()
    for model in ("StockPrice", "OrderBook", "NewsSentiment", "MarketData", "EconomicIndicator"):
        assert f"#/components/schemas/{model}" in refs
        assert model in spec["components"]["schemas"]
    price = spec["components"]["schemas"]["StockPrice"]["properties"]
    assert price["volume"]["maximum"] == 2**53 - 1 and price["closing_price"]["maximum"] == 1e12
    assert set(spec["components"]["schemas"]["StockPrice"]["required"]) >= {
        "stock_symbol", "opening_price", "closing_price", "high", "low", "volume", "timestamp"}


def test_a_slow_request_body_is_timed_out_with_a_408(stack: Settings, tmp_path: Path) -> None:
    ingest, port = start_ingest(service_env(stack, ingest_body_timeout_s=1.5), tmp_path)
    ingest.wait_http(f"http://127.0.0.1:{port}/healthz")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100000\r\n\r\n[{\"stock_symbol\"")
        sent = time.monotonic()
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        waited = time.monotonic() - sent
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"did not arrive within 1.5 s" in answer
    assert 1.4 < waited < 20, waited
    assert ingest.stop() == 0, ingest.log_tail()


def test_unfinished_request_headers_are_timed_out_while_requests_are_served(stack: Settings, tmp_path: Path) -> None:
    """1,000 sockets with an unfinished header block stayed open for 25 s and more: now they are answered
    408 and closed after TICKFLOW_HTTP_HEADER_TIMEOUT_S, and do not keep a normal request waiting."""
    header_timeout_s = 2.0
    ingest, port = start_ingest(service_env(stack, http_header_timeout_s=header_timeout_s), tmp_path)
    ingest.wait_http(f"http://127.0.0.1:{port}/healthz")
    unfinished = open_unfinished_requests(port, 200, b"POST /ingest HTTP/1.1\r\nHost: x\r\n"
                                                     b"Content-Type: application/json\r\nContent-Len")
    sent = time.monotonic()
    response = httpx.post(f"http://127.0.0.1:{port}/ingest", json=candle(), timeout=10)
    served_after = time.monotonic() - sent
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
    results = read_until_closed(unfinished, timeout=header_timeout_s + 15)
    closed_after = sorted(after for _, after in results if after is not None)
    assert len(closed_after) == 200, f"{200 - len(closed_after)} still open"
    print(f"\na request beside 200 unfinished ones served in {served_after * 1000:.0f} ms; they were closed after "
          f"{closed_after[0]:.2f}-{closed_after[-1]:.2f} s (header timeout {header_timeout_s} s)")
    assert served_after < header_timeout_s, "served before the unfinished ones were timed out"
    assert header_timeout_s - 0.5 < closed_after[0] and closed_after[-1] < header_timeout_s + 5
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer, _ in results)
    assert ingest.stop() == 0, ingest.log_tail()
