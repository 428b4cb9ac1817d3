"""Webhook notifications of new signals: signed, retried with backoff, at least once, every attempt logged.

One thread per dashboard process, writing as the writer role (tables in sql/0021):

1. **Enqueue.** Per endpoint, `webhook_cursors` holds the last `dashboard_feed` id already turned
   into deliveries. New signal rows after it become `webhook_deliveries` rows (one per signal and
   endpoint, unique on the idempotency key) in the same transaction that advances the cursor, so
   a crash either keeps both or neither. Event ids are commit-ordered, so nothing is skipped. A
   new endpoint starts at the live updates' current head.
2. **Deliver.** Due deliveries are claimed with `FOR UPDATE SKIP LOCKED` (several dashboards can
   share the tables) and leased for the request timeout plus a margin; an attempt row is written
   ('sending') and committed before the POST, and completed after it: 'delivered' on 2xx,
   'retry' otherwise (with the next try after `webhook_backoff_s * 2^(attempt-1)`, capped at
   `webhook_backoff_max_s`), 'failed' when `webhook_max_attempts` are used up.

Every attempt POSTs the same body, with headers `Idempotency-Key` (the same on every attempt:
receivers drop repeats), `X-Tickflow-Signature: sha256=<hex HMAC-SHA256 of the body under
TICKFLOW_WEBHOOK_SECRET>`, `X-Tickflow-Delivery` and `X-Tickflow-Attempt`. At least once: a
process that dies between a receiver's 2xx and recording it sends the delivery again when the
lease ends.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import psycopg2

from services.config import Settings
from services.dashboard.updates import head_id
from services.logs import event
from services.retry import Backoff

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Tickflow-Signature"
CLAIM_BATCH = 16
LEASE_MARGIN_S = 30.0


def sign(secret: bytes, body: bytes) -> str:
    """The X-Tickflow-Signature value: 'sha256=' + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """What a receiver does (constant-time comparison)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def endpoint_name(url: str) -> str:
    """The URL as stored, logged and shown: scheme and host, and an id instead of the rest.

    Webhook URLs often carry their secret in the path or query (Slack, Teams, Discord) or as a
    password; the tables are readable by analysts and logs travel far. The id is the first 12 hex
    digits of the URL's SHA-256: stable, so one endpoint keeps one name, and enough to tell which
    configured URL it is (the dashboard logs every configured endpoint's name when it starts).
    """
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…#{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def redact(text: str, url: str) -> str:
    """`text` (an error message) without the URL or its parts that may hold a secret."""
    parts = urlsplit(url)
    for secret in (url, parts.password, parts.path if len(parts.path) > 1 else None, parts.query or None):
        if secret:
            text = text.replace(secret, "…")
    return text


def idempotency_key(symbol: str, ts: datetime, rule: str) -> str:
    """Names the signal (its natural key), so the same signal always has the same key."""
    micros = round(ts.timestamp() * 1_000_000)
    return f"signal-{symbol}-{micros}-{rule}"


NEW_SIGNALS_SQL = """
WITH ev AS (
    SELECT f.first_id + e.ord - 1 AS id, e.symbol, e.ts, e.rule
    FROM dashboard_feed f
    CROSS JOIN LATERAL unnest(f.symbols, f.ts, f.rules) WITH ORDINALITY AS e(symbol, ts, rule, ord)
    WHERE f.kind = 'signal' AND f.last_id > %(after)s AND f.first_id <= %(upto)s
)
SELECT ev.id, s.symbol, s.ts, extract(epoch FROM s.ts)::float8, s.rule, s.side, s.price, s.value, s.reference
FROM ev
JOIN signals s ON s.symbol = ev.symbol AND s.timeframe = 'raw' AND s.ts = ev.ts AND s.rule = ev.rule
WHERE ev.id > %(after)s AND ev.id <= %(upto)s
ORDER BY ev.id
LIMIT %(limit)s
"""


class WebhookNotifier(threading.Thread):
    def __init__(self, settings: Settings, dsn: str, poll_s: float = 1.0, enqueue_batch: int = 1000) -> None:
        super().__init__(name="webhook-notifier", daemon=True)
        if not settings.webhook_urls:
            raise ValueError("no webhook URLs configured (TICKFLOW_WEBHOOK_URLS)")
        if settings.webhook_secret is None or not settings.webhook_secret.get_secret_value():
            raise ValueError("TICKFLOW_WEBHOOK_URLS is set but TICKFLOW_WEBHOOK_SECRET is empty: "
                             "every webhook is signed, set a secret")
        self._settings = settings
        # when a failed delivery is tried again: exact steps, stored as the delivery's next_attempt_at
        self._schedule = Backoff(settings.webhook_backoff_s, settings.webhook_backoff_max_s, jitter=False)
        self._secret = settings.webhook_secret.get_secret_value().encode()
        self._urls = {endpoint_name(u): u for u in settings.webhook_urls}
        self._dsn = dsn
        self._poll_s = poll_s
        self._enqueue_batch = enqueue_batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._conn: Any = None
        self._http = httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False,
                                  headers={"User-Agent": "tickflow-dashboard/0.1"})
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-send")
        self.attempts: dict[str, int] = {"delivered": 0, "retry": 0, "failed": 0}
        self.healthy = threading.Event()

    # -- control --------------------------------------------------------------------------
    def wake(self) -> None:
        """New signals were committed (called by the live-updates listener; thread-safe)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        event(log, "webhook notifier started", endpoints=sorted(self._urls))
        backoff = Backoff(0.2, 5.0)
        while not self._stopping.is_set():
            try:
                self._ensure_cursors()
                self.healthy.set()
                backoff.reset()
                while not self._stopping.is_set():
                    self._wake.clear()
                    self.enqueue()
                    self.deliver_due()
                    self._wake.wait(self._next_wait())
            except Exception as exc:  # noqa: BLE001 - the notifier must outlive errors: log, retry
                self.healthy.clear()
                delay = backoff.next()
                event(log, "webhook notifier: error; retrying", logging.WARNING,
                      error=f"{type(exc).__name__}: {str(exc).strip()}", retry_in_s=round(delay, 2))
                self._close()
                self._stopping.wait(delay)
        self._close()
        self._pool.shutdown(wait=True)
        self._http.close()

    # -- database -------------------------------------------------------------------------
    def _db(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self._dsn, application_name="tickflow-dashboard-webhooks",
                                          connect_timeout=5)
        return self._conn

    def _close(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def _ensure_cursors(self) -> None:
        conn = self._db()
        with conn, conn.cursor() as cur:
            head = head_id(cur)
            for endpoint in self._urls:
                cur.execute("INSERT INTO webhook_cursors (endpoint, last_feed_id) VALUES (%s, %s) "
                            "ON CONFLICT (endpoint) DO NOTHING", (endpoint, head))

    def enqueue(self) -> int:
        """Turn new committed signals into deliveries, for every endpoint; return how many."""
        created = 0
        conn = self._db()
        for endpoint in self._urls:
            while True:
                with conn, conn.cursor() as cur:
                    cur.execute("SELECT last_feed_id FROM webhook_cursors WHERE endpoint = %s FOR UPDATE", (endpoint,))
                    cursor = cur.fetchone()[0]
                    upto = head_id(cur)
                    if upto <= cursor:
                        break
                    cur.execute(NEW_SIGNALS_SQL, {"after": cursor, "upto": upto, "limit": self._enqueue_batch})
                    rows = cur.fetchall()
                    full = len(rows) == self._enqueue_batch
                    for feed_id, symbol, ts, epoch, rule, side, price, value, reference in rows:
                        key = idempotency_key(symbol, ts, rule)
                        body = orjson.dumps({
                            "type": "signal", "idempotency_key": key, "feed_id": feed_id,
                            "signal": {"symbol": symbol, "ts": epoch, "time": ts.astimezone(timezone.utc).isoformat(),
                                       "rule": rule, "side": side, "price": price, "value": value,
                                       "reference": reference},
                        }).decode()
                        cur.execute(
                            "INSERT INTO webhook_deliveries "
                            "(endpoint, idempotency_key, feed_id, symbol, ts, rule, side, body) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                            "ON CONFLICT (endpoint, idempotency_key) DO NOTHING",
                            (endpoint, key, feed_id, symbol, ts, rule, side, body))
                        created += cur.rowcount
                    new_cursor = rows[-1][0] if full else upto
                    cur.execute("UPDATE webhook_cursors SET last_feed_id = %s, updated_at = now() WHERE endpoint = %s",
                                (new_cursor, endpoint))
                if not full:
                    break
        return created

    def _claim(self) -> list[tuple[int, str, str, str, int]]:
        conn = self._db()
        lease = self._settings.webhook_timeout_s + LEASE_MARGIN_S
        with conn, conn.cursor() as cur:
            cur.execute(
                "WITH due AS (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now() "
                "  AND endpoint = ANY(%s) ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, "
                "  next_attempt_at = now() + make_interval(secs => %s) "
                "FROM due WHERE d.id = due.id RETURNING d.id, d.endpoint, d.idempotency_key, d.body, d.attempts",
                (list(self._urls), CLAIM_BATCH, lease))
            claimed = sorted(cur.fetchall())
            for delivery_id, _, _, _, attempt in claimed:
                cur.execute("INSERT INTO webhook_attempts (delivery_id, attempt, outcome) VALUES (%s, %s, 'sending')",
                            (delivery_id, attempt))
        return claimed

    def deliver_due(self) -> int:
        """Claim what is due, POST it (a few at a time), record each outcome; return how many were sent."""
        sent = 0
        while not self._stopping.is_set():
            claimed = self._claim()
            if not claimed:
                return sent
            results = list(self._pool.map(self._post, claimed))
            conn = self._db()
            with conn, conn.cursor() as cur:
                for (delivery_id, endpoint, _, _, attempt), (status, error, ms) in zip(claimed, results):
                    self._record(cur, delivery_id, endpoint, attempt, status, error, ms)
            sent += len(claimed)
        return sent

    def _post(self, claimed: tuple[int, str, str, str, int]) -> tuple[int | None, str | None, float]:
        delivery_id, endpoint, key, body, attempt = claimed
        data = body.encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   SIGNATURE_HEADER: sign(self._secret, data),
                   "X-Tickflow-Delivery": str(delivery_id), "X-Tickflow-Attempt": str(attempt)}
        started = time.perf_counter()
        try:
            response = self._http.post(self._urls[endpoint], content=data, headers=headers)
        except httpx.HTTPError as exc:
            error = redact(f"{type(exc).__name__}: {exc}", self._urls[endpoint])
            return None, error[:500], (time.perf_counter() - started) * 1000
        ms = (time.perf_counter() - started) * 1000
        if 200 <= response.status_code < 300:
            return response.status_code, None, ms
        # Not the receiver's body: it may echo the request's URL or other secrets. Its size says enough.
        return response.status_code, (f"HTTP {response.status_code} {response.reason_phrase} "
                                      f"(body of {len(response.content)} bytes not stored)"), ms

    def _record(self, cur: Any, delivery_id: int, endpoint: str, attempt: int, status: int | None,
                error: str | None, ms: float) -> None:
        s = self._settings
        if error is None:
            outcome = "delivered"
            cur.execute("UPDATE webhook_deliveries SET status = 'delivered', finished_at = now(), last_error = NULL "
                        "WHERE id = %s", (delivery_id,))
        elif attempt >= s.webhook_max_attempts:
            outcome = "failed"
            cur.execute("UPDATE webhook_deliveries SET status = 'failed', finished_at = now(), last_error = %s "
                        "WHERE id = %s", (error, delivery_id))
        else:
            outcome = "retry"
            delay = self._schedule.delay(attempt)
            cur.execute("UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => %s), "
                        "last_error = %s WHERE id = %s", (delay, error, delivery_id))
        cur.execute("UPDATE webhook_attempts SET outcome = %s, http_status = %s, error = %s, duration_ms = %s "
                    "WHERE delivery_id = %s AND attempt = %s", (outcome, status, error, ms, delivery_id, attempt))
        self.attempts[outcome] += 1
        level = logging.INFO if outcome == "delivered" else logging.WARNING
        event(log, f"webhook {outcome}", level, endpoint=endpoint, delivery=delivery_id, attempt=attempt,
              http_status=status, error=error, ms=round(ms, 1))

    def _next_wait(self) -> float:
        """Seconds until the next delivery is due (at most poll_s)."""
        conn = self._db()
        with conn, conn.cursor() as cur:
            cur.execute("SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM webhook_deliveries "
                        "WHERE status = 'pending' AND endpoint = ANY(%s)", (list(self._urls),))
            due_in = cur.fetchone()[0]
        if due_in is None:
            return self._poll_s
        return min(self._poll_s, max(0.005, due_in))
