"""Ingest's metrics under two uvicorn workers (services/ingest/__main__.py, ops.py): a scrape of the
operations port counts every request exactly once, whichever worker answered it."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from running_services import start_ingest
from support import free_port, scrape_metrics, service_env

from services.config import Settings

REQUESTS = 60


def candle(ts: float, high: float = 102.0) -> dict:
    return {"stock_symbol": "AAPL", "opening_price": 100.0, "closing_price": 101.0, "high": high,
            "low": 99.5, "volume": 1000, "timestamp": ts}


def post(port: int, i: int, now: float) -> int:
    # A new connection per request, so the two workers share the requests (each accepts its own).
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
        body = [candle(now - i), candle(now - i, high=1.0)] if i % 3 else [candle(now - i)]
        return client.post("/ingest", json=body).status_code


def requests_per_worker(metrics_dir: Path) -> list[float]:
    """tickflow_ingest_requests_total as each worker's own file holds it."""
    counts = []
    for path in sorted(metrics_dir.glob("counter_*.db")):
        samples = {s.name: s.value for m in MultiProcessCollector.merge([str(path)]) for s in m.samples}
        counts.append(samples.get("tickflow_ingest_requests_total", 0.0))
    return counts


def test_a_scrape_of_two_workers_counts_every_request_once(stack: Settings, tmp_path: Path) -> None:
    ops_port = free_port()
    env = {**service_env(stack), "TMPDIR": str(tmp_path)}  # where ingest makes its multiprocess directory
    ingest, port = start_ingest(env, tmp_path, ops_port=ops_port)
    try:
        ingest.wait_http(f"http://127.0.0.1:{port}/readyz")
        ingest.wait_http(f"http://127.0.0.1:{ops_port}/healthz")
        (metrics_dir,) = tmp_path.glob("tickflow-ingest-metrics-*")
        now = time.time()
        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(lambda i: post(port, i, now), range(REQUESTS)))
        assert statuses == [200] * REQUESTS
        scrapes = [scrape_metrics(f"http://127.0.0.1:{ops_port}/metrics") for _ in range(5)]
        per_worker = requests_per_worker(metrics_dir)
    finally:
        assert ingest.stop() == 0, ingest.log_tail()
    for m in scrapes:  # every scrape: exactly N, never one worker's share
        assert m["tickflow_ingest_requests_total"] == REQUESTS
        assert m['tickflow_ingest_request_duration_seconds_count{status="200"}'] == REQUESTS
        assert m['tickflow_ingest_request_duration_seconds_bucket{le="+Inf",status="200"}'] == REQUESTS
        assert m["tickflow_ingest_kafka_publish_seconds_count"] == REQUESTS
        assert m['tickflow_ingest_accepted_total{type="stock_price"}'] == REQUESTS
        assert m['tickflow_ingest_rejected_total{reason="high"}'] == REQUESTS - len(range(0, REQUESTS, 3))
        assert m["tickflow_ingest_batch_records_sum"] == REQUESTS + REQUESTS - len(range(0, REQUESTS, 3))
    served = [n for n in per_worker if n]
    assert len(served) == 2 and sum(served) == REQUESTS, per_worker  # both workers answered some
    assert not metrics_dir.exists(), "the multiprocess directory is removed when ingest stops"
