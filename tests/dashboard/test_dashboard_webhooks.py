"""Webhooks for new signals: HMAC-SHA256 signed, retried with backoff, at least once, every attempt logged."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

import pytest
from dashboard_data import WebhookReceiver, candles, insert_rows, stream_rows
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import Engine, text
from support import free_port, wait_until

from services.config import Settings
from services.dashboard.app import create_app
from services.dashboard.webhooks import endpoint_name, idempotency_key, redact, sign, verify
from services.retry import Backoff

SECRET = "test-webhook-secret"


def with_webhooks(settings: Settings, *urls: str, **extra: Any) -> Settings:
    return settings.model_copy(update={
        "webhook_urls": urls, "webhook_secret": SecretStr(SECRET), "webhook_backoff_s": 0.05,
        "webhook_backoff_max_s": 0.2, "webhook_max_attempts": 3, **extra})


def prepared(count: int = 600, seed: int = 31, start: float = 1_700_000_000.0) -> tuple[list[tuple], list[tuple]]:
    bars, signals = stream_rows(candles(("AAPL", "MSFT"), count, seed=seed, start=start))
    assert len(signals) >= 5
    return bars, signals


def deliveries(db: Engine) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM webhook_deliveries ORDER BY id")).mappings()]


def attempts(db: Engine, finished: bool = True) -> dict[tuple[str, str], list[tuple]]:
    """(endpoint, idempotency key) -> [(attempt, outcome, http_status), ...]; with `finished`, every
    attempt must have its result (an error message exactly when it was not delivered)."""
    out: dict[tuple[str, str], list[tuple]] = defaultdict(list)
    with db.connect() as conn:
        for endpoint, key, attempt, outcome, status, error in conn.execute(text(
                "SELECT d.endpoint, d.idempotency_key, a.attempt, a.outcome, a.http_status, a.error "
                "FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
                "ORDER BY d.id, a.attempt")):
            out[(endpoint, key)].append((attempt, outcome, status))
            if finished:
                assert outcome != "sending" and (error is None) == (outcome == "delivered")
    return out


def signal_key(s: tuple) -> str:
    symbol, ts, rule = s[0], s[1], s[2]
    return idempotency_key(symbol, datetime.fromtimestamp(ts, timezone.utc), rule)


def test_signature_and_helpers() -> None:
    body = b'{"type":"signal"}'
    header = sign(SECRET.encode(), body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert verify(SECRET.encode(), body, header)
    assert not verify(b"another secret", body, header)
    assert not verify(SECRET.encode(), body + b" ", header)
    assert not verify(SECRET.encode(), body, None)
    secret_url = "https://user:pw@hooks.example:8443/services/T00/B00/s3cr3t?token=t0k"
    name = endpoint_name(secret_url)
    assert name.startswith("https://hooks.example:8443/…#") and len(name.rsplit("#", 1)[1]) == 12
    assert not any(part in name for part in ("user", "pw", "services", "s3cr3t", "t0k"))
    assert endpoint_name(secret_url) == name != endpoint_name(secret_url.replace("s3cr3t", "other"))
    assert redact(f"ConnectError for {secret_url}: refused", secret_url) == "ConnectError for …: refused"


def test_webhooks_need_a_secret(dash_db: Settings) -> None:
    settings = dash_db.model_copy(update={"webhook_urls": ("http://127.0.0.1:9/hook",), "webhook_secret": None})
    with pytest.raises(ValueError, match="TICKFLOW_WEBHOOK_SECRET"), TestClient(create_app(settings)):
        pass


def test_every_new_signal_is_posted_once_signed_to_a_healthy_receiver(dash_db: Settings, owner_db: Engine) -> None:
    bars, signals = prepared()
    with (WebhookReceiver(SECRET.encode()) as receiver,
          TestClient(create_app(with_webhooks(dash_db, receiver.url))) as client):
        wait_until(lambda: client.app.state.notifier.healthy.is_set(), timeout=10, what="the notifier")
        insert_rows(dash_db.database_url, bars[:300], [s for s in signals if s[1] <= bars[299][1]])
        insert_rows(dash_db.database_url, bars[300:], [s for s in signals if s[1] > bars[299][1]])
        wait_until(lambda: len(receiver.snapshot()) >= len(signals), timeout=15, what=f"{len(signals)} webhooks")
        wait_until(lambda: all(d["status"] == "delivered" for d in deliveries(owner_db)), timeout=10,
                   what="every delivery recorded as delivered")
    got = receiver.snapshot()
    assert len(got) == len(signals)
    bodies = [json.loads(r.body) for r in got]
    for request, body in zip(got, bodies):
        assert request.signature_ok and request.status == 200  # the receiver checked the signature
        assert request.headers["Idempotency-Key"] == body["idempotency_key"]
        assert request.headers["X-Tickflow-Attempt"] == "1"
        assert request.headers["Content-Type"] == "application/json"
    sent = sorted((b["signal"]["symbol"], b["signal"]["ts"], b["signal"]["rule"], b["signal"]["side"],
                   b["signal"]["price"]) for b in bodies)
    assert sent == sorted((s[0], s[1], s[2], s[3], s[4]) for s in signals)
    assert sorted(b["idempotency_key"] for b in bodies) == sorted(signal_key(s) for s in signals)
    log = attempts(owner_db)
    assert len(log) == len(signals) and all(a == [(1, "delivered", 200)] for a in log.values())


def test_a_failing_receiver_gets_the_signal_again_per_retry_and_every_attempt_is_logged(
        dash_db: Settings, owner_db: Engine) -> None:
    bars, signals = prepared(200, seed=37)
    signals = signals[:4]
    flaky = WebhookReceiver(SECRET.encode(), lambda key, n: 500 if n <= 2 else 200)  # fails twice, then succeeds
    broken = WebhookReceiver(SECRET.encode(), lambda key, n: 503)  # never succeeds: given up after max attempts
    with flaky, broken, TestClient(create_app(with_webhooks(dash_db, flaky.url, broken.url))) as client:
        wait_until(lambda: client.app.state.notifier.healthy.is_set(), timeout=10, what="the notifier")
        insert_rows(dash_db.database_url, bars, signals)
        wait_until(lambda: len(deliveries(owner_db)) == 2 * len(signals)
                   and all(d["status"] != "pending" for d in deliveries(owner_db)), timeout=20,
                   what="every delivery delivered or failed")

    by_key: dict[str, list] = defaultdict(list)
    for request in flaky.snapshot():
        by_key[request.headers["Idempotency-Key"]].append(request)
    assert sorted(by_key) == sorted(signal_key(s) for s in signals)
    for key, requests in by_key.items():
        assert [r.status for r in requests] == [500, 500, 200]  # once more per retry, then never again
        assert [r.headers["X-Tickflow-Attempt"] for r in requests] == ["1", "2", "3"]
        assert len({r.body for r in requests}) == 1  # the same body (and signature) every time
        assert all(r.signature_ok for r in requests)
    assert len(broken.snapshot()) == 3 * len(signals) and all(r.signature_ok for r in broken.snapshot())

    log = attempts(owner_db)
    for s in signals:
        key = signal_key(s)
        assert log[(endpoint_name(flaky.url), key)] == [(1, "retry", 500), (2, "retry", 500), (3, "delivered", 200)]
        assert log[(endpoint_name(broken.url), key)] == [(1, "retry", 503), (2, "retry", 503), (3, "failed", 503)]
    rows = {(d["endpoint"], d["idempotency_key"]): d for d in deliveries(owner_db)}
    assert {(d["status"], d["attempts"])
            for (e, _), d in rows.items() if e == endpoint_name(flaky.url)} == {("delivered", 3)}
    assert {(d["status"], d["attempts"])
            for (e, _), d in rows.items() if e == endpoint_name(broken.url)} == {("failed", 3)}
    assert all(d["last_error"] == "HTTP 503 Service Unavailable (body of 2 bytes not stored)"
               for (e, _), d in rows.items() if e == endpoint_name(broken.url))
    with owner_db.connect() as conn:  # backoff: the next attempt waited at least base * 2^(n-1)
        gaps = conn.execute(text(
            "SELECT a.attempt, extract(epoch FROM a.started_at - lag(a.started_at) OVER w) FROM webhook_attempts a "
            "WINDOW w AS (PARTITION BY a.delivery_id ORDER BY a.attempt)")).all()
    assert all(gap >= Backoff(0.05, 0.2, jitter=False).delay(attempt - 1) for attempt, gap in gaps if attempt > 1)


def test_signals_committed_while_the_dashboard_is_down_or_undelivered_are_sent_after_a_restart(
        dash_db: Settings, owner_db: Engine) -> None:
    bars, signals = prepared(600, seed=41)
    half = bars[299][1]
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"  # nobody listens yet: connection refused
    settings = with_webhooks(dash_db, url, webhook_max_attempts=50, webhook_backoff_s=0.1, webhook_backoff_max_s=0.3)
    with TestClient(create_app(settings)) as client:
        wait_until(lambda: client.app.state.notifier.healthy.is_set(), timeout=10, what="the notifier")
        insert_rows(dash_db.database_url, bars[:300], [s for s in signals if s[1] <= half])
        wait_until(lambda: len(attempts(owner_db, finished=False)) == sum(s[1] <= half for s in signals), timeout=10,
                   what="a first attempt for every signal")
    # Down: more signals are committed; nothing is lost, the cursor remembers where it was.
    insert_rows(dash_db.database_url, bars[300:], [s for s in signals if s[1] > half])
    with WebhookReceiver(SECRET.encode(), port=port) as receiver:  # the receiver is back; so is the dashboard
        with TestClient(create_app(settings)):
            wait_until(lambda: all(d["status"] == "delivered" for d in deliveries(owner_db))
                       and len(deliveries(owner_db)) == len(signals), timeout=20, what="all signals delivered")
        keys = sorted(r.headers["Idempotency-Key"] for r in receiver.snapshot())
    assert keys == sorted(signal_key(s) for s in signals)  # each once: at least once, and here exactly once
    errors = [a for a in attempts(owner_db).values() if a[0][1] == "retry"]
    assert len(errors) == sum(s[1] <= half for s in signals)  # the first ones failed (refused) before


def test_a_receiver_refuses_a_body_signed_with_another_secret(dash_db: Settings, owner_db: Engine) -> None:
    bars, signals = prepared(200, seed=43)
    with WebhookReceiver(b"the receiver's own secret") as receiver, \
            TestClient(create_app(with_webhooks(dash_db, receiver.url, webhook_max_attempts=2))) as client:
        wait_until(lambda: client.app.state.notifier.healthy.is_set(), timeout=10, what="the notifier")
        insert_rows(dash_db.database_url, bars, signals[:1])
        wait_until(lambda: [d["status"] for d in deliveries(owner_db)] == ["failed"], timeout=10,
                   what="the delivery given up")
    assert [(r.signature_ok, r.status) for r in receiver.snapshot()] == [(False, 401), (False, 401)]
    assert list(attempts(owner_db).values()) == [[(1, "retry", 401), (2, "failed", 401)]]
