"""The generator's run loop (services/generator/runner.py) against a real local HTTP server (a fake ingest)."""
from __future__ import annotations

import json
import threading
import time
from collections import Counter

import pytest
from fake_ingest import WAIT, FakeIngest, validate
from generator_data import START, make_plan, per_symbol
from support import wait_until

from services.core.simulation import MarketSimulator, is_candle
from services.generator.runner import Runner


@pytest.mark.parametrize("workers,batch", [(1, 100), (2, 7), (5, 1)])
def test_finite_run_sends_exactly_count_candles_reproducibly(workers: int, batch: int,
                                                             capsys: pytest.CaptureFixture) -> None:
    plan = make_plan(workers=workers, batch=batch)
    with FakeIngest(default=validate) as ingest:
        runner = Runner(plan=plan, ingest_url=ingest.url, log_interval=60, progress=workers == 2)
        assert runner.run() == 0
    got = ingest.accepted
    candles = Counter(r["stock_symbol"] for r in got if is_candle(r))
    assert candles == {"AAPL": 21, "GOOGL": 21, "AMZN": 21, "MSFT": 20, "TSLA": 20}  # 103 = 5*20 + 3
    expected = [r for tick in MarketSimulator(plan.symbols, 5, START, 1.0).stream(103) for r in tick]
    assert per_symbol(got) == per_symbol(expected)  # per-symbol order kept, nothing lost or doubled
    assert len(got) == len(expected)
    assert all(len(req["records"]) <= batch for req in ingest.requests)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["summary"]
    assert summary["candles"] == 103
    assert summary["sent"] == summary["accepted"] == len(expected)
    assert summary["rejected"] == summary["undelivered"] == 0


def test_finite_run_with_rejections_exits_1() -> None:
    plan = make_plan(count=10, workers=1, start=time.time() + 10_000, max_ahead=1e9)
    with FakeIngest(default=validate) as ingest:
        runner = Runner(plan=plan, ingest_url=ingest.url, log_interval=60)
        assert runner.run() == 1
    snap = runner.stats.snapshot()
    assert snap["rejected"] == snap["sent"] > 10 and snap["accepted"] == 0
    assert ingest.accepted == []


def test_paced_run_follows_the_rate_and_wall_clock(caplog: pytest.LogCaptureFixture) -> None:
    now = time.time()
    plan = make_plan(rate=100.0, interval=0.05, start=now, count=30, workers=1, batch=1000)
    with FakeIngest() as ingest, caplog.at_level("INFO", logger="services.generator"):
        t0 = time.monotonic()
        assert Runner(plan=plan, ingest_url=ingest.url, log_interval=0.05).run() == 0
        elapsed = time.monotonic() - t0
    # 30 candles at 100/s: ~0.3 s; batches are flushed every 200 ms, not by size (1000).
    assert 0.25 <= elapsed < 5.0, elapsed
    assert len(ingest.requests) >= 2
    assert sum(1 for r in ingest.accepted if is_candle(r)) == 30
    # Candle timestamps track the wall clock: none arrives long before its time.
    for req in ingest.requests:
        assert max(r["timestamp"] for r in req["records"]) <= req["wall"] + 0.05
    progress = [r for r in caplog.records if r.getMessage() == "generator progress"]
    assert progress and {"sent", "accepted", "rejected", "retries", "undelivered"} <= set(progress[-1].fields)
    summary = [r for r in caplog.records if r.getMessage() == "generator summary"]
    assert len(summary) == 1 and summary[0].fields["candles"] == 30


def test_future_guard_throttles_instead_of_sending_rejectable_timestamps() -> None:
    now = time.time()
    plan = make_plan(rate=None, start=now + 0.3, interval=0.1, count=5, workers=1, max_ahead=0.0)
    with FakeIngest() as ingest:
        assert Runner(plan=plan, ingest_url=ingest.url, log_interval=60).run() == 0
    for req in ingest.requests:
        assert max(r["timestamp"] for r in req["records"]) <= req["wall"]
    assert sum(1 for r in ingest.accepted if is_candle(r)) == 5


def test_stop_flushes_buffer_and_accounts_for_everything() -> None:
    plan = make_plan(count=None, rate=2000.0, interval=0.0025, start=time.time(), batch=50)
    with FakeIngest() as ingest:
        runner = Runner(plan=plan, ingest_url=ingest.url, log_interval=60)
        out: list[int] = []
        t = threading.Thread(target=lambda: out.append(runner.run()), daemon=True)
        t.start()
        wait_until(lambda: runner.ready and runner.stats.snapshot()["accepted"] >= 200, timeout=WAIT,
                   what="the runner ready with 200 records accepted")
        runner.request_stop()
        t.join(WAIT)
        assert not t.is_alive()
    assert out == [0]
    snap = runner.stats.snapshot()
    assert snap["sent"] == snap["accepted"] == len(ingest.accepted) and snap["undelivered"] == 0
    assert sum(1 for r in ingest.accepted if is_candle(r)) == runner.candles()


def test_stop_while_ingest_down_is_bounded() -> None:
    plan = make_plan(count=None, rate=500.0, interval=0.01, start=time.time(), batch=10, workers=1)
    with FakeIngest(default=lambda r: (503, {"Retry-After": "1"}, None)) as ingest:
        runner = Runner(plan=plan, ingest_url=ingest.url, log_interval=60, shutdown_timeout=0.3)
        out: list[int] = []
        t = threading.Thread(target=lambda: out.append(runner.run()), daemon=True)
        t.start()
        assert ingest.wait_for(lambda: len(ingest.requests) >= 1)
        t0 = time.monotonic()
        runner.request_stop()
        t.join(WAIT)
        assert not t.is_alive()
        assert time.monotonic() - t0 < 3.0
    assert out == [0]
    snap = runner.stats.snapshot()
    assert snap["accepted"] == 0 and snap["undelivered"] == snap["sent"] > 0
