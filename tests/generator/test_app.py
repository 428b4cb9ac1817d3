"""The generator's HTTP side (services/generator/app.py): sample record, health, readiness and metrics."""
from __future__ import annotations

import socket
import time
from collections import Counter

import httpx
import pytest
from fake_ingest import contract_errors
from generator_data import make_plan
from support import open_unfinished_requests, read_until_closed, scrape_metrics

from services.config import get_settings
from services.core.simulation import is_candle
from services.generator.app import create_app
from services.generator.runner import Runner
from services.ingest_client import PushStats
from services.ops import BackgroundServer


def test_app_endpoints() -> None:
    plan = make_plan()
    runner = Runner(plan=plan, ingest_url="http://127.0.0.1:9", log_interval=60)
    runner.stats.add(sent=10, accepted=7, rejected=2, undelivered=1, retries=3, batches=2, requests=5)
    app = create_app(runner.sample, runner.stats, lambda: runner.ready, runner.extra_metrics)
    server = BackgroundServer(app, "127.0.0.1", 0).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=5.0) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            assert client.get("/readyz").status_code == 503
            runner.ready = True
            assert client.get("/readyz").json() == {"status": "ready"}
            kinds: Counter[str] = Counter()
            for _ in range(60):
                r = client.get("/")
                assert r.status_code == 200
                rec = r.json()
                assert abs(rec["timestamp"] - time.time()) < 60
                kinds[rec.get("data_type", "candle")] += 1
                if is_candle(rec):
                    assert not contract_errors(rec)
            content_type = client.get("/metrics").headers["content-type"]
            lines = scrape_metrics(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert not server.thread.is_alive()
    assert kinds["candle"] > 10 and len(kinds) >= 3
    assert content_type.startswith("text/plain")
    assert lines["tickflow_generator_records_sent_total"] == 10
    assert lines["tickflow_generator_records_accepted_total"] == 7
    assert lines["tickflow_generator_records_rejected_total"] == 2
    assert lines["tickflow_generator_records_undelivered_total"] == 1
    assert lines["tickflow_generator_retries_total"] == 3
    assert lines["tickflow_generator_ready"] == 1
    assert lines["tickflow_generator_candles_total"] == 0


def test_server_port_in_use_is_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(OSError):
            BackgroundServer(create_app(dict, PushStats(), lambda: True), "127.0.0.1", s.getsockname()[1])


def test_the_server_bounds_unfinished_headers_and_long_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator's server (BackgroundServer, as every operations port) has the guarded protocols:
    unfinished headers are answered 408 and closed after the header timeout, a long URL gets 414."""
    try:
        with monkeypatch.context() as env:
            env.setenv("TICKFLOW_HTTP_HEADER_TIMEOUT_S", "1")
            get_settings.cache_clear()  # the protocols read the process's settings
            server = BackgroundServer(create_app(dict, PushStats(), lambda: True), "127.0.0.1", 0).start()
        try:
            unfinished = open_unfinished_requests(server.port, 5, b"GET /healthz HTTP/1.1\r\nHost: x\r\nAcc")
            long_url = open_unfinished_requests(server.port, 1, b"GET /?" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
            results = read_until_closed(unfinished + long_url, timeout=10)
            assert httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5).json() == {"status": "ok"}
        finally:
            server.stop()
    finally:
        get_settings.cache_clear()  # after the environment is restored
    assert [answer.split(b"\r\n")[0] for answer, _ in results] == [b"HTTP/1.1 408 Request Timeout"] * 5 + [
        b"HTTP/1.1 414 Request-URI Too Long"]
    assert all(after is not None and 0.5 < after < 6 for _, after in results[:5])
