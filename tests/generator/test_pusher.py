"""The ingest client (services/ingest_client.py: the generator, the replay and the feed send through it)
against a real local HTTP server (a fake ingest)."""
from __future__ import annotations

import email.utils
import random
import threading

import pytest
from fake_ingest import WAIT, FakeIngest, Response, accept_all, validate
from generator_data import records
from support import free_port, wait_until

from services.ingest_client import (
    Pusher,
    PushStats,
    Verdict,
    classify,
    parse_retry_after,
)


def fast_pusher(url: str, **kw: object) -> Pusher:
    kw.setdefault("backoff_base", 0.005)
    kw.setdefault("backoff_cap", 0.05)
    kw.setdefault("timeout", 5.0)
    return Pusher(url, rng=random.Random(0), **kw)  # type: ignore[arg-type]


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


# -- pushing to a fake ingest ----------------------------------------------------------------


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
        with caplog.at_level("WARNING", logger="services.ingest_client"):
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
        wait_until(lambda: stats.snapshot()["requests"] >= 3, timeout=WAIT, what="the pusher to retry")
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
