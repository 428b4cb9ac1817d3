"""The generator's pusher and run loop against a real local HTTP server (a fake ingest)."""
from __future__ import annotations

import email.utils
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import httpx

from services.config import Settings
from services.core.simulation import MarketSimulator, RecordMix, is_candle
from services.generator.__main__ import ingest_token
from services.generator.app import BackgroundServer, create_app, render_metrics
from services.generator.pusher import (
    Pusher,
    PushStats,
    Verdict,
    classify,
    parse_retry_after,
)
from services.generator.runner import Plan, Runner

ROOT = Path(__file__).resolve().parents[2]
START = 1_700_000_000.0
WAIT = 10.0  # generous upper bound for conditions

Response = tuple[int, dict[str, str], object]


def accept_all(records: list[dict]) -> Response:
    return 200, {}, {
        "accepted": len(records),
        "rejected": 0,
        "results": [{"index": i, "status": "accepted"} for i in range(len(records))],
    }


def contract_errors(r: dict) -> list[dict]:
    """A small version of ingest's validation, enough to catch invalid generator output."""
    errors = []
    candle = {"stock_symbol", "opening_price", "closing_price", "high", "low", "volume", "timestamp"}
    if "data_type" not in r:
        if set(r) != candle:
            return [{"field": "", "message": f"fields {sorted(r)}"}]
        o, c, h, lo = r["opening_price"], r["closing_price"], r["high"], r["low"]
        if not all(isinstance(x, float) and math.isfinite(x) and x > 0 for x in (o, c, h, lo)):
            errors.append({"field": "price", "message": "non-positive or non-finite"})
        elif h < max(o, c) or lo > min(o, c):
            errors.append({"field": "high", "message": "inconsistent candle"})
        if not isinstance(r["volume"], int) or r["volume"] < 0:
            errors.append({"field": "volume", "message": "bad volume"})
    if not (isinstance(r.get("timestamp"), float) and r["timestamp"] <= time.time() + 300):
        errors.append({"field": "timestamp", "message": "bad timestamp"})
    return errors


def validate(records: list[dict]) -> Response:
    results, accepted = [], 0
    for i, r in enumerate(records):
        errs = contract_errors(r)
        if errs:
            results.append({"index": i, "status": "rejected", "errors": errs})
        else:
            accepted += 1
            results.append({"index": i, "status": "accepted"})
    body = {"accepted": accepted, "rejected": len(records) - accepted, "results": results}
    return (200 if accepted else 422), {}, body


class FakeIngest:
    """POST /ingest on 127.0.0.1; answers from `script` (one entry per request) then `default`."""

    def __init__(
        self,
        script: list[Response | Callable[[list[dict]], Response]] | None = None,
        default: Callable[[list[dict]], Response] = accept_all,
        port: int = 0,
    ) -> None:
        self.script = deque(script or [])
        self.default = default
        self.requests: list[dict] = []  # {"t", "headers", "records", "status"}
        self.accepted: list[dict] = []  # records of 2xx answers, in arrival order (minus rejected)
        self.cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers + body writes meet delayed ACKs (40 ms)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                records = json.loads(body)
                with fake.cond:
                    answer = fake.script.popleft() if fake.script else fake.default
                status, headers, payload = answer(records) if callable(answer) else answer
                if self.path != "/ingest":
                    status, headers, payload = 404, {}, {"detail": "not found"}
                out = json.dumps(payload).encode() if payload is not None else b""
                with fake.cond:
                    fake.requests.append({"t": time.monotonic(), "wall": time.time(), "headers": dict(self.headers),
                                          "records": records, "status": status})
                    if 200 <= status < 300:
                        rejected = {r["index"] for r in payload.get("results", []) if r["status"] == "rejected"}
                        fake.accepted.extend(r for i, r in enumerate(records) if i not in rejected)
                    fake.cond.notify_all()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> FakeIngest:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def records(n: int, seed: int = 1) -> list[dict]:
    sim = MarketSimulator(["AAPL", "MSFT"], seed, START, 1.0)
    out: list[dict] = []
    for tick in sim.ticks():
        out.extend(tick)
        if len(out) >= n:
            return out[:n]
    raise AssertionError


def fast_pusher(url: str, **kw: object) -> Pusher:
    kw.setdefault("backoff_base", 0.005)
    kw.setdefault("backoff_cap", 0.05)
    kw.setdefault("timeout", 5.0)
    return Pusher(url, rng=random.Random(0), **kw)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- pure decisions ----------------------------------------------------------------------------


def test_classify() -> None:
    assert classify(None) is Verdict.RETRY
    for status in (408, 429, 500, 502, 503, 504, 599):
        assert classify(status) is Verdict.RETRY, status
    assert classify(200, {"accepted": 1, "rejected": 0}) is Verdict.DONE
    assert classify(422, {"accepted": 0, "rejected": 2, "results": []}) is Verdict.DONE
    assert classify(422, {"detail": "bad json"}) is Verdict.FAIL
    assert classify(413) is Verdict.SPLIT
    for status in (400, 401, 403, 404):
        assert classify(status, {"detail": "x"}) is Verdict.FAIL


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0.25 ") == 0.25
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_800_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 7, usegmt=True), now=now) == pytest.approx(7, abs=1)


def test_503_with_retry_after_twice_then_200_delivers_everything_once() -> None:
    batch = records(250)
    busy = (503, {"Retry-After": "0.2"}, {"detail": "kafka unavailable"})
    with FakeIngest(script=[busy, busy]) as ingest, fast_pusher(ingest.url, backoff_cap=1.0) as pusher:
        result = pusher.push(batch)
    assert (result.accepted, result.rejected, result.undelivered, result.retries) == (250, 0, 0, 2)
    assert [r["status"] for r in ingest.requests] == [503, 503, 200]
    assert all(r["records"] == batch for r in ingest.requests)  # same batch, same order, each time
    assert ingest.accepted == batch
    gaps = [b["t"] - a["t"] for a, b in zip(ingest.requests, ingest.requests[1:])]
    assert all(g >= 0.19 for g in gaps), gaps  # Retry-After honoured (backoff alone is < 10 ms)
    assert pusher.stats.snapshot() == {"sent": 250, "accepted": 250, "rejected": 0, "undelivered": 0,
                                       "retries": 2, "batches": 1, "requests": 3}
    assert pusher.stats.in_flight == 0


def test_429_and_5xx_are_retried() -> None:
    batch = records(10)
    script = [(429, {}, {"detail": "slow down"}), (500, {}, None), (502, {}, "bad gateway")]
    with FakeIngest(script=script) as ingest, fast_pusher(ingest.url) as pusher:
        result = pusher.push(batch)
    assert result.accepted == 10 and result.retries == 3
    assert [r["status"] for r in ingest.requests] == [429, 500, 502, 200]
    assert ingest.accepted == batch


def test_422_rejections_are_counted_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    batch = records(5)

    def reject_all(recs: list[dict]) -> Response:
        results = [{"index": i, "status": "rejected", "errors": [{"field": "high", "message": f"bad {i}"}]}
                   for i in range(len(recs))]
        return 422, {}, {"accepted": 0, "rejected": len(recs), "results": results}

    with FakeIngest(default=reject_all) as ingest, fast_pusher(ingest.url) as pusher:
        with caplog.at_level("WARNING", logger="services.generator.pusher"):
            result = pusher.push(batch)
            second = pusher.push(batch[:2])
    assert (result.accepted, result.rejected, result.undelivered, result.retries) == (0, 5, 0, 0)
    assert (second.accepted, second.rejected) == (0, 2)
    assert len(ingest.requests) == 2  # one request per push: no retry
    snap = pusher.stats.snapshot()
    assert (snap["sent"], snap["accepted"], snap["rejected"], snap["retries"], snap["undelivered"]) == (7, 0, 7, 0, 0)
    # Reasons are logged (the first few) and kept as samples.
    logged = [r for r in caplog.records if r.getMessage() == "records rejected by ingest"]
    assert len(logged) == 2
    assert len(logged[0].fields["first"]) == 3
    assert logged[0].fields["first"][0]["errors"] == [{"field": "high", "message": "bad 0"}]
    assert logged[0].fields["first"][0]["record"] == batch[0]
    assert pusher.stats.rejection_samples[0]["errors"][0]["message"] == "bad 0"


def test_partial_acceptance_counts_both() -> None:
    batch = records(6)
    bad = [dict(r) for r in batch]
    bad[1] = {**bad[1], "timestamp": float("1e12")}  # far future -> rejected by the fake
    bad[4] = {**bad[4], "timestamp": float("1e12")}
    with FakeIngest(default=validate) as ingest, fast_pusher(ingest.url) as pusher:
        result = pusher.push(bad)
    assert (result.accepted, result.rejected, result.retries) == (4, 2, 0)
    assert ingest.accepted == [r for i, r in enumerate(bad) if i not in (1, 4)]


def test_connection_refused_then_server_starts_delivers() -> None:
    port = free_port()
    batch = records(40)
    stats = PushStats()
    pusher = fast_pusher(f"http://127.0.0.1:{port}", stats=stats, backoff_cap=0.05)
    outcome: list = []
    t = threading.Thread(target=lambda: outcome.append(pusher.push(batch)), daemon=True)
    t.start()
    try:
        assert wait_until(lambda: stats.snapshot()["requests"] >= 3), "pusher did not retry"
        assert not outcome  # still trying, nothing dropped
        with FakeIngest(port=port) as ingest:
            t.join(WAIT)
            assert not t.is_alive()
    finally:
        pusher.close()
    assert outcome[0].accepted == 40 and outcome[0].undelivered == 0 and outcome[0].retries >= 2
    assert ingest.accepted == batch
    assert stats.snapshot()["retries"] == outcome[0].retries


def test_max_retries_gives_up_and_counts_undelivered() -> None:
    batch = records(12)
    with FakeIngest(default=lambda r: (503, {"Retry-After": "0"}, None)) as ingest:
        with fast_pusher(ingest.url, max_retries=3) as pusher:
            result = pusher.push(batch)
    assert (result.accepted, result.undelivered, result.retries) == (0, 12, 3)
    assert len(ingest.requests) == 4
    snap = pusher.stats.snapshot()
    assert (snap["sent"], snap["undelivered"], snap["retries"], snap["requests"]) == (12, 12, 3, 4)


def test_give_up_event_aborts_pending_retries() -> None:
    give_up = threading.Event()
    with FakeIngest(default=lambda r: (503, {"Retry-After": "1"}, None)) as ingest:
        pusher = fast_pusher(ingest.url, give_up=give_up, backoff_cap=30.0)
        outcome: list = []
        t = threading.Thread(target=lambda: outcome.append(pusher.push(records(3))), daemon=True)
        t.start()
        assert ingest.wait_for(lambda: len(ingest.requests) >= 1)
        give_up.set()
        t.join(WAIT)
        pusher.close()
    assert not t.is_alive()
    assert outcome[0].undelivered == 3 and outcome[0].accepted == 0
    assert len(ingest.requests) == 1


def test_413_splits_the_batch_and_keeps_order() -> None:
    batch = records(9)

    def small_only(recs: list[dict]) -> Response:
        if len(recs) > 2:
            return 413, {}, {"detail": "too large"}
        return accept_all(recs)

    with FakeIngest(default=small_only) as ingest, fast_pusher(ingest.url) as pusher:
        result = pusher.push(batch)
    assert (result.accepted, result.rejected, result.undelivered) == (9, 0, 0)
    assert ingest.accepted == batch
    assert pusher.stats.snapshot()["sent"] == 9


def test_permanent_error_counts_undelivered_without_retry() -> None:
    with FakeIngest(default=lambda r: (401, {}, {"detail": "unauthorized"})) as ingest:
        with fast_pusher(ingest.url) as pusher:
            result = pusher.push(records(4))
    assert (result.undelivered, result.retries) == (4, 0)
    assert len(ingest.requests) == 1


def test_bearer_token_sent_and_keepalive_used() -> None:
    with FakeIngest() as ingest, fast_pusher(ingest.url, token="s3cret") as pusher:
        for _ in range(3):
            pusher.push(records(2))
    assert [r["headers"].get("Authorization") for r in ingest.requests] == ["Bearer s3cret"] * 3
    assert all(r["headers"].get("Content-Type") == "application/json" for r in ingest.requests)
    with FakeIngest() as ingest, fast_pusher(ingest.url) as pusher:
        pusher.push(records(2))
    assert "Authorization" not in ingest.requests[0]["headers"]


# -- the run loop ------------------------------------------------------------------------------


def make_plan(**kw: object) -> Plan:
    base = dict(symbols=("AAPL", "GOOGL", "AMZN", "MSFT", "TSLA"), seed=5, start=START, interval=1.0,
                rate=None, workers=2, batch=7, count=103, mix=RecordMix(), flush_interval=0.2,
                max_ahead=150.0)
    base.update(kw)
    return Plan(**base)  # type: ignore[arg-type]


def per_symbol(recs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in recs:
        out[r.get("stock_symbol", "_economic")].append(r)
    return out


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
        assert wait_until(lambda: runner.ready and runner.stats.snapshot()["accepted"] >= 200)
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


# -- HTTP app ----------------------------------------------------------------------------------


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
            metrics = client.get("/metrics")
    finally:
        server.stop()
    assert not server.thread.is_alive()
    assert kinds["candle"] > 10 and len(kinds) >= 3
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = dict(line.rsplit(" ", 1) for line in metrics.text.splitlines() if not line.startswith("#"))
    assert lines["tickflow_generator_records_sent_total"] == "10"
    assert lines["tickflow_generator_records_accepted_total"] == "7"
    assert lines["tickflow_generator_records_rejected_total"] == "2"
    assert lines["tickflow_generator_records_undelivered_total"] == "1"
    assert lines["tickflow_generator_retries_total"] == "3"
    assert lines["tickflow_generator_ready"] == "1"
    assert lines["tickflow_generator_candles_total"] == "0"
    assert "# TYPE tickflow_generator_records_sent_total counter" in render_metrics(runner.stats)


def test_server_port_in_use_is_an_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(OSError):
            BackgroundServer(create_app(dict, PushStats(), lambda: True), "127.0.0.1", s.getsockname()[1])


# -- the CLI -----------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKFLOW_")}
    env.update(extra)
    return env


def test_ingest_token_comes_from_settings_and_stays_out_of_reprs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKFLOW_INGEST_TOKEN", "s3cret")
    settings = Settings()
    assert ingest_token(settings) == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.ingest_token)
    runner = Runner(plan=make_plan(), ingest_url="http://127.0.0.1:9", token=ingest_token(settings))
    assert "s3cret" not in repr(runner)
    monkeypatch.setenv("TICKFLOW_INGEST_TOKEN", "")  # set but empty: no Authorization header
    assert ingest_token(Settings()) is None
    monkeypatch.delenv("TICKFLOW_INGEST_TOKEN")
    assert ingest_token(Settings()) is None


def test_cli_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "services.generator", "--help"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for flag in ("--rate", "--symbols", "--workers", "--seed", "--start", "--interval", "--batch",
                 "--count", "--ingest-url", "--port", "--no-server", "--max-retries"):
        assert flag in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "services.generator", "--rate", "0"], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "max" in bad.stderr


def test_cli_finite_run_end_to_end() -> None:
    with FakeIngest(default=validate) as ingest:
        proc = subprocess.run(
            [sys.executable, "-m", "services.generator", "--rate", "max", "--count", "40", "--symbols",
             "AAPL,MSFT", "--seed", "3", "--start", str(START), "--interval", "1", "--batch", "9",
             "--ingest-url", ingest.url, "--no-server", "--workers", "2"],
            cwd=ROOT, env=_env(TICKFLOW_INGEST_TOKEN="tok", TICKFLOW_LOG_FORMAT="json"),
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])["summary"]
    expected = [r for t in MarketSimulator(["AAPL", "MSFT"], 3, START, 1.0).stream(40) for r in t]
    assert summary["candles"] == 40 and summary["accepted"] == len(expected)
    assert per_symbol(ingest.accepted) == per_symbol(expected)
    assert all(r["headers"]["Authorization"] == "Bearer tok" for r in ingest.requests)
    assert "tok" not in proc.stderr  # the token is never logged
    logs = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "generator summary" and entry["accepted"] == len(expected) for entry in logs)


def test_cli_sigterm_flushes_and_exits_0() -> None:
    port = free_port()
    with FakeIngest() as ingest:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.generator", "--rate", "200", "--ingest-url", ingest.url,
             "--port", str(port), "--batch", "1000"],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert ingest.wait_for(lambda: len(ingest.accepted) >= 20)
            assert wait_until(lambda: _get(f"http://127.0.0.1:{port}/readyz") == 200)
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])["summary"]
    assert summary["interrupted"] is True
    assert summary["sent"] == summary["accepted"] == len(ingest.accepted) > 0
    assert summary["candles"] == sum(1 for r in ingest.accepted if is_candle(r))


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=1.0).status_code
    except Exception:  # noqa: BLE001 - not listening yet
        return 0
