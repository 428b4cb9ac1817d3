"""The generator's HTTP side (services/generator/app.py): sample record, health, readiness and metrics."""
from __future__ import annotations

import socket
import time
from collections import Counter

import httpx
import pytest

from services.core.simulation import is_candle
from services.generator.app import create_app
from services.ops import BackgroundServer
from services.generator.pusher import PushStats
from services.generator.runner import Runner
from fake_ingest import contract_errors
from generator_data import make_plan
from support import scrape_metrics


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
