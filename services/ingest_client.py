"""The ingest client: POST JSON arrays to ``{ingest_url}/ingest`` with retries and counters.

Shared by everything that sends candles to ingest: the generator, the replay and the Alpaca feed.

Ingest's answer contract
------------------------
* 200 (all or some accepted) / 422 (none accepted) with a JSON body
  ``{"accepted": int, "rejected": int, "results": [{"index": i, "status": ..., "errors": [...]}]}``;
  rejected records are counted and logged (first few reasons), never retried.
* 429, 503 (with ``Retry-After``), 408, other 5xx, connection errors and timeouts: the same batch
  is sent again after an exponential backoff with jitter (``Retry-After`` honoured, everything
  capped at ``backoff_cap``) -- forever by default, or up to ``max_retries`` retries after which
  the batch is counted as undelivered.
* 413: the batch is split in halves and each half is sent on its own (a single record that is
  still too large is counted as rejected).
* Any other status (401, 403, 404, 400 without per-record results...): the batch is counted as
  undelivered and logged; retrying cannot help.

A resend after a lost response can deliver a record twice; ingest and the processor dedupe by
natural key.  Counters are thread-safe and may be shared by several pushers (a
generator's workers share one).
"""
from __future__ import annotations

import email.utils
import enum
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import orjson

from services.config import Settings
from services.logs import event
from services.retry import Backoff

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_LOGGED_REASONS = 3


def ingest_token(settings: Settings) -> str | None:
    """The bearer token for ingest, or None; an empty TICKFLOW_INGEST_TOKEN also means none."""
    if settings.ingest_token is None:
        return None
    return settings.ingest_token.get_secret_value() or None


class Verdict(enum.Enum):
    DONE = "done"  # ingest answered for each record (accepted and/or rejected)
    RETRY = "retry"  # transient: send the same batch again later
    SPLIT = "split"  # 413: send smaller batches
    FAIL = "fail"  # permanent failure of the whole request (counted undelivered)


def classify(status: int | None, body: object = None) -> Verdict:
    """What to do with an HTTP answer (`status` None = connection error / timeout)."""
    if status is None or status in RETRYABLE_STATUSES or status >= 500:
        return Verdict.RETRY
    if 200 <= status < 300:
        return Verdict.DONE
    if status == 413:
        return Verdict.SPLIT
    if status in (400, 422) and isinstance(body, dict) and isinstance(body.get("rejected"), int):
        return Verdict.DONE
    return Verdict.FAIL


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds, also fractional, or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass
class PushStats:
    """Counters in records (except `retries`, `batches`, `requests`); thread-safe."""

    sent: int = 0  # records handed to ingest (counted once, however many attempts)
    accepted: int = 0
    rejected: int = 0
    undelivered: int = 0  # records given up on (max retries, shutdown, permanent error)
    retries: int = 0  # re-sent requests
    batches: int = 0  # batches acknowledged or given up
    requests: int = 0  # HTTP requests made (including retries)
    rejection_samples: list[dict] = field(default_factory=list)
    rejection_reasons: Counter[str] = field(default_factory=Counter)  # each rejected record's first error
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def add_rejection_samples(self, samples: Sequence[dict], reasons: Sequence[str] = (), limit: int = 10) -> None:
        with self._lock:
            self.rejection_reasons.update(reasons)
            room = limit - len(self.rejection_samples)
            if room > 0:
                self.rejection_samples.extend(samples[:room])

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                "sent": self.sent,
                "accepted": self.accepted,
                "rejected": self.rejected,
                "undelivered": self.undelivered,
                "retries": self.retries,
                "batches": self.batches,
                "requests": self.requests,
            }

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self.sent - self.accepted - self.rejected - self.undelivered


@dataclass
class PushResult:
    """Outcome of one `Pusher.push` call (in records, except `retries`)."""

    accepted: int = 0
    rejected: int = 0
    undelivered: int = 0
    retries: int = 0

    def __iadd__(self, other: PushResult) -> PushResult:
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.undelivered += other.undelivered
        self.retries += other.retries
        return self


class Pusher:
    """Sends batches to one ingest endpoint over one keep-alive httpx.Client (one per thread).

    ``push(records)`` blocks until ingest has answered for every record (or the batch is given
    up), updating the shared ``stats``.  ``give_up`` (an Event, may be shared) aborts pending
    retries: the batch in hand is then counted as undelivered -- used for bounded shutdown.
    """

    def __init__(
        self,
        ingest_url: str,
        *,
        token: str | None = None,
        stats: PushStats | None = None,
        max_retries: int | None = None,
        timeout: float = 10.0,
        backoff_base: float = 0.1,
        backoff_cap: float = 5.0,
        give_up: threading.Event | None = None,
        rng: random.Random | None = None,
        client: httpx.Client | None = None,
        name: str = "pusher",
    ) -> None:
        self.url = ingest_url.rstrip("/") + "/ingest"
        self.stats = stats if stats is not None else PushStats()
        self.max_retries = max_retries
        self.backoff = Backoff(backoff_base, backoff_cap, rng=rng or random.Random())
        self.give_up = give_up if give_up is not None else threading.Event()
        self.name = name
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._owns_client = client is None
        self.client = client or httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        if client is not None:
            self.client.headers.update(headers)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ------------------------------------------------------------------------------

    def push(self, records: Sequence[dict]) -> PushResult:
        """Deliver `records` (one POST, or several after a 413); blocks until settled."""
        if not records:
            return PushResult()
        self.stats.add(sent=len(records))
        return self._push(list(records))

    def _push(self, records: list[dict]) -> PushResult:
        body = orjson.dumps(records)
        attempt = 0
        while True:
            status, payload, retry_after, error = self._post(body)
            verdict = classify(status, payload)
            if verdict is Verdict.DONE:
                return self._settle(records, status, payload, attempt)
            if verdict is Verdict.SPLIT:
                if len(records) == 1:
                    reason = {"index": 0, "errors": [{"field": "", "message": "413 payload too large"}]}
                    self._reject_log([reason], status)
                    self.stats.add(rejected=1, batches=1)
                    return PushResult(rejected=1, retries=attempt)
                mid = len(records) // 2
                event(log, "batch too large, splitting", logging.WARNING, pusher=self.name, records=len(records))
                result = PushResult(retries=attempt)
                result += self._push(records[:mid])
                result += self._push(records[mid:])
                return result
            if verdict is Verdict.FAIL:
                event(
                    log, "batch failed permanently", logging.ERROR, pusher=self.name, status=status,
                    records=len(records), body=_snippet(payload),
                )
                self.stats.add(undelivered=len(records), batches=1)
                return PushResult(undelivered=len(records), retries=attempt)
            # RETRY
            attempt += 1
            if self.max_retries is not None and attempt > self.max_retries:
                event(
                    log, "batch undelivered after retries", logging.ERROR, pusher=self.name,
                    records=len(records), retries=attempt - 1, status=status, error=error,
                )
                self.stats.add(undelivered=len(records), batches=1)
                return PushResult(undelivered=len(records), retries=attempt - 1)
            delay = self.backoff.delay(attempt, retry_after)
            level = logging.WARNING if attempt in (1, 10) or attempt % 100 == 0 else logging.DEBUG
            event(
                log, "ingest unavailable, retrying", level, pusher=self.name, status=status,
                error=error, attempt=attempt, delay=round(delay, 3), records=len(records),
            )
            if self.give_up.is_set() or self.give_up.wait(delay):
                event(
                    log, "giving up on batch (shutdown)", logging.ERROR, pusher=self.name,
                    records=len(records), retries=attempt - 1,
                )
                self.stats.add(undelivered=len(records), batches=1)
                return PushResult(undelivered=len(records), retries=attempt - 1)
            self.stats.add(retries=1)

    def _post(self, body: bytes) -> tuple[int | None, object, float | None, str | None]:
        self.stats.add(requests=1)
        try:
            resp = self.client.post(self.url, content=body)
        except httpx.TransportError as exc:  # connect errors, timeouts, resets, protocol errors
            return None, None, None, f"{type(exc).__name__}: {exc}"[:200]
        payload: object = None
        if resp.content:
            try:
                payload = orjson.loads(resp.content)
            except orjson.JSONDecodeError:
                payload = resp.text[:500]
        return resp.status_code, payload, parse_retry_after(resp.headers.get("Retry-After")), None

    def _settle(self, records: list[dict], status: int | None, payload: object, attempt: int) -> PushResult:
        n = len(records)
        if isinstance(payload, dict) and isinstance(payload.get("accepted"), int) and isinstance(
            payload.get("rejected"), int
        ):
            accepted, rejected = payload["accepted"], payload["rejected"]
            if accepted + rejected != n:
                event(
                    log, "ingest counts do not match the batch", logging.WARNING, pusher=self.name,
                    records=n, accepted=accepted, rejected=rejected,
                )
                # Trust ingest's rejections; whatever it did not mention counts as accepted.
                rejected = min(max(rejected, 0), n)
                accepted = n - rejected
        elif status is not None and 200 <= status < 300:
            accepted, rejected = n, 0
        else:  # 4xx with some body but no usable counts: nothing was taken
            accepted, rejected = 0, n
        if rejected:
            reasons = []
            results = payload.get("results") if isinstance(payload, dict) else None
            if isinstance(results, list):
                reasons = [r for r in results if isinstance(r, dict) and r.get("status") == "rejected"]
            self._reject_log(reasons, status, rejected=rejected, records=records)
        self.stats.add(accepted=accepted, rejected=rejected, batches=1)
        return PushResult(accepted=accepted, rejected=rejected, retries=attempt)

    def _reject_log(
        self, reasons: list[dict], status: int | None, rejected: int = 1, records: list[dict] | None = None
    ) -> None:
        samples, first_errors = [], []
        for r in reasons:
            errors = r.get("errors")
            first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
            first_errors.append(f"{first.get('field', '')}: {first.get('message', 'rejected')}".lstrip(": "))
        first_errors += [f"HTTP {status}, no reason given"] * (rejected - len(first_errors))
        for r in reasons[:MAX_LOGGED_REASONS]:
            sample = {"index": r.get("index"), "errors": r.get("errors")}
            idx = r.get("index")
            if records is not None and isinstance(idx, int) and 0 <= idx < len(records):
                sample["record"] = records[idx]
            samples.append(sample)
        self.stats.add_rejection_samples(samples, first_errors)
        event(log, "records rejected by ingest", logging.WARNING, pusher=self.name, status=status,
              rejected=rejected, first=samples)


def _snippet(payload: object) -> str:
    text = payload if isinstance(payload, str) else orjson.dumps(payload).decode() if payload is not None else ""
    return text[:300]
