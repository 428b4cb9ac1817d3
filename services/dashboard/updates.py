"""The dashboard's live updates: committed bars and signals, in commit order, from PostgreSQL.

The processor's batch transaction fills `dashboard_feed` through triggers (sql/0020) and sends
NOTIFY tickflow_feed, which PostgreSQL delivers only on commit. `UpdateListener` (one thread per
dashboard process) LISTENs on the read-only role, reads the rows after the last id it
published, joins them back to bars/signals and hands them to `Hub`, which fans them out to
WebSocket subscribers on the event loop. Event ids are commit-ordered (see the migration), so
"every id above the last one seen" is exactly what is new: nothing is skipped, nothing repeats.
A lost notification costs at most `poll_s` of latency: the listener also polls.

The table (`dashboard_feed`, its historical name) only grows from the triggers; `prune_forever` (run
by the dashboard's lifespan) deletes batches older than TICKFLOW_DASHBOARD_FEED_RETENTION_HOURS, as a
prefix of ids.
"""
from __future__ import annotations

import asyncio
import logging
import os
import select
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import orjson
import psycopg2
import psycopg2.extensions
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from services.core.indicators import INDICATOR_COLUMNS
from services.logs import event
from services.retry import Backoff

log = logging.getLogger(__name__)

CHANNEL = "tickflow_feed"
BAR_FIELDS = ("open", "high", "low", "close", "volume", *INDICATOR_COLUMNS)
SIGNAL_FIELDS = ("side", "price", "value", "reference")

# Events after an id, joined back to their bar or signal. A dashboard_feed row holds one batch: its events
# are first_id + (position - 1). An event whose bar/signal is gone (deleted since) comes back with
# NULLs and is skipped.
EVENTS_SQL = f"""
WITH ev AS (
    SELECT f.first_id + e.ord - 1 AS id, f.kind, e.symbol, e.ts, e.rule
    FROM dashboard_feed f
    CROSS JOIN LATERAL unnest(f.symbols, f.ts, f.rules) WITH ORDINALITY AS e(symbol, ts, rule, ord)
    WHERE f.last_id > %(after)s AND f.first_id <= %(upto)s
)
SELECT ev.id, ev.kind, ev.symbol, extract(epoch FROM ev.ts)::float8, ev.rule,
       {', '.join(f'b.{c}' for c in BAR_FIELDS)},
       {', '.join(f's.{c}' for c in SIGNAL_FIELDS)}
FROM ev
LEFT JOIN bars b ON ev.kind = 'bar' AND b.symbol = ev.symbol AND b.timeframe = 'raw' AND b.ts = ev.ts
LEFT JOIN signals s ON ev.kind = 'signal' AND s.symbol = ev.symbol AND s.timeframe = 'raw' AND s.ts = ev.ts
    AND s.rule = ev.rule
WHERE ev.id > %(after)s AND ev.id <= %(upto)s
ORDER BY ev.id
LIMIT %(limit)s
"""
_NB = len(BAR_FIELDS)


def rows_to_events(rows: Iterable[tuple]) -> list[dict[str, Any]]:
    """dashboard_feed rows (EVENTS_SQL) as WebSocket events: {"id", "type", "symbol", "ts", ...}."""
    out = []
    for row in rows:
        event_id, kind, symbol, ts, rule = row[:5]
        if kind == "bar":
            values = row[5:5 + _NB]
            if values[0] is None:
                continue
            out.append({"id": event_id, "type": "bar", "symbol": symbol, "ts": ts, **dict(zip(BAR_FIELDS, values))})
        else:
            values = row[5 + _NB:]
            if values[0] is None:
                continue
            out.append({"id": event_id, "type": "signal", "symbol": symbol, "ts": ts, "rule": rule,
                        **dict(zip(SIGNAL_FIELDS, values))})
    return out


def fetch_events(cur: Any, after: int, upto: int, limit: int = 5000) -> tuple[list[dict[str, Any]], int]:
    """Events with after < id <= upto (at most `limit` of them) and the last id read."""
    cur.execute(EVENTS_SQL, {"after": after, "upto": upto, "limit": limit})
    rows = cur.fetchall()
    last = rows[-1][0] if len(rows) == limit else upto
    return rows_to_events(rows), last


def head_id(cur: Any) -> int:
    """The newest committed event id (0 when there is none)."""
    cur.execute("SELECT coalesce(max(last_id), 0) FROM dashboard_feed")
    return int(cur.fetchone()[0])


def oldest_id(cur: Any) -> int | None:
    """The oldest event id still stored (older ones were pruned)."""
    cur.execute("SELECT min(first_id) FROM dashboard_feed")
    value = cur.fetchone()[0]
    return None if value is None else int(value)


class UpdateListener(threading.Thread):
    """LISTEN for commits, read new dashboard_feed rows, call `publish(events, last_id)` (from this thread).

    On start (and after every reconnection) it continues from the last id it published, so a
    dropped connection loses nothing; the first start begins at the current head.
    """

    def __init__(self, dsn: str, publish: Callable[[list[dict[str, Any]], int], None],
                 poll_s: float = 1.0, batch: int = 5000) -> None:
        super().__init__(name="feed-listener", daemon=True)
        self._dsn = dsn
        self._publish = publish
        self._poll_s = poll_s
        self._batch = batch
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # stop() interrupts the select() at once
        self.last_id: int | None = None
        self.connected = threading.Event()
        self.notifications = 0

    def stop(self) -> None:
        self._stopping.set()
        os.write(self._wake_w, b"x")

    def run(self) -> None:
        backoff = Backoff(0.2, 5.0)
        while not self._stopping.is_set():
            conn = None
            try:
                conn = psycopg2.connect(self._dsn, application_name="tickflow-dashboard-feed", connect_timeout=5)
                conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
                with conn.cursor() as cur:
                    cur.execute(f"LISTEN {CHANNEL}")
                    if self.last_id is None:
                        self.last_id = head_id(cur)
                        self._publish([], self.last_id)
                self.connected.set()
                event(log, "feed listening", last_id=self.last_id)
                backoff.reset()
                self._loop(conn)
            except Exception as exc:  # noqa: BLE001 - mostly PostgreSQL going away: reconnect and catch up
                self.connected.clear()
                delay = backoff.next()
                event(log, "feed connection lost; reconnecting", logging.WARNING,
                      error=f"{type(exc).__name__}: {str(exc).strip()}", retry_in_s=round(delay, 2))
                self._stopping.wait(delay)
            finally:
                if conn is not None and not conn.closed:
                    conn.close()
        self.connected.clear()

    def close(self) -> None:
        """After stop() and join(): release the wake-up pipe."""
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _loop(self, conn: Any) -> None:
        with conn.cursor() as cur:
            while not self._stopping.is_set():
                self._take_notifications(conn)
                self._catch_up(cur)  # also right after (re)connecting: commits we did not hear about
                if conn.notifies:
                    # psycopg2 reads notifications that arrive while our own queries run off the
                    # socket into conn.notifies, so select() would not wake for them: go round now.
                    continue
                readable, _, _ = select.select([conn, self._wake_r], [], [], self._poll_s)
                if conn in readable:
                    conn.poll()

    def _take_notifications(self, conn: Any) -> None:
        """Forget the notifications heard so far: the catch-up that follows covers them."""
        self.notifications += len(conn.notifies)
        conn.notifies.clear()

    def _catch_up(self, cur: Any) -> None:
        assert self.last_id is not None
        upto = head_id(cur)
        while self.last_id < upto:
            events, last = fetch_events(cur, self.last_id, upto, self._batch)
            self.last_id = last
            self._publish(events, last)


# Events a client may have waiting (however they are batched); one that falls further behind gets
# what is queued and is then told to resume by id. Bounds what a slow client can hold alive.
QUEUE_EVENTS = 20_000


@dataclass(eq=False, slots=True)
class Published:
    """One published batch, shared by every subscriber: serialised once for all unfiltered ones."""

    events: list[dict[str, Any]]
    last_id: int
    _messages: list[str] | None = None

    @property
    def messages(self) -> list[str]:
        if self._messages is None:
            self._messages = event_messages(self.events, self.last_id)
        return self._messages


@dataclass(eq=False)
class Subscriber:
    """One WebSocket client's queue of published batches."""

    symbols: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    queued_events: int = 0
    overflowed: bool = False

    def put(self, batch: Published) -> None:
        if self.queued_events + len(batch.events) > QUEUE_EVENTS:
            self.overflowed = True  # the client is too slow: it gets what is queued, then is told to resume
            return
        self.queued_events += len(batch.events)
        self.queue.put_nowait(batch)

    def taken(self, batch: Published) -> None:
        self.queued_events -= len(batch.events)

    def messages_after(self, batch: Published, position: int) -> list[str]:
        """The messages of `batch` for this client, without events at or before `position`."""
        if self.symbols is None and self.kinds is None and batch.events and batch.events[0]["id"] > position:
            return batch.messages
        return event_messages([e for e in self.select(batch.events) if e["id"] > position], batch.last_id)

    def wants(self, ev: dict[str, Any]) -> bool:
        return ((self.symbols is None or ev["symbol"] in self.symbols)
                and (self.kinds is None or ev["type"] in self.kinds))

    def select(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.symbols is None and self.kinds is None:
            return events
        return [e for e in events if self.wants(e)]


class Hub:
    """Fan-out on the event loop: the listener publishes, subscribers get every batch after they joined."""

    def __init__(self) -> None:
        self.head: int | None = None  # last event id published (None until the listener started)
        self.subscribers: set[Subscriber] = set()
        self.published_events = 0
        self.published_at = 0.0
        self.ready = asyncio.Event()

    def publish(self, events: list[dict[str, Any]], last_id: int) -> None:
        """Called on the loop's thread (the listener uses call_soon_threadsafe)."""
        self.head = last_id
        self.ready.set()
        if not events:
            return
        self.published_events += len(events)
        self.published_at = time.time()
        batch = Published(events, last_id)
        for sub in list(self.subscribers):
            if not sub.overflowed:
                sub.put(batch)

    def subscribe(self, symbols: frozenset[str] | None = None, kinds: frozenset[str] | None = None,
                  most: int | None = None) -> Subscriber | None:
        """A new subscriber, or None when `most` are subscribed already. Checking and joining are one
        step (no await between them), so clients connecting all at once cannot all pass the check."""
        if most is not None and len(self.subscribers) >= most:
            return None
        sub = Subscriber(symbols, kinds)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)


def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


MESSAGE_EVENTS = 1000  # at most this many events per WebSocket message


def event_messages(events: list[dict[str, Any]], last_id: int) -> list[str]:
    """`events` (all with ids <= last_id) as "events" messages of at most MESSAGE_EVENTS each.

    Each message's last_id is where a client resumes after it: its last event's id, and for the
    final one `last_id` (the position in the live updates, which may lie past events a filter left out).
    """
    messages = []
    for start in range(0, len(events), MESSAGE_EVENTS):
        part = events[start:start + MESSAGE_EVENTS]
        final = start + MESSAGE_EVENTS >= len(events)
        messages.append(dumps({"type": "events", "events": part, "last_id": last_id if final else part[-1]["id"]}))
    return messages


# -- retention -----------------------------------------------------------------------------------
PRUNE_EVERY_S = 60.0
PRUNE_SQL = """
DELETE FROM dashboard_feed
WHERE last_id <= (SELECT max(last_id) FROM dashboard_feed WHERE created_at < now() - make_interval(secs => %(seconds)s))
  AND last_id < (SELECT max(last_id) FROM dashboard_feed)
RETURNING cardinality(symbols)
"""


def prune(engine: Engine, retention_hours: float) -> int:
    """Delete the batches older than the retention, as one prefix of ids (the newest batch
    stays); return how many events went.

    Deleting a prefix keeps the stored events a contiguous range of ids, so its oldest id tells a resuming
    client exactly whether something it needs was pruned.
    """
    conn = engine.raw_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(PRUNE_SQL, {"seconds": retention_hours * 3600})
            deleted = sum(n for (n,) in cur.fetchall())
        conn.commit()
        return deleted
    finally:
        conn.close()


async def prune_forever(engine: Engine, retention_hours: float) -> None:
    """Prune every PRUNE_EVERY_S for as long as the dashboard runs (cancelled on shutdown)."""
    while True:
        try:
            deleted = await run_in_threadpool(prune, engine, retention_hours)
            if deleted:
                event(log, "feed pruned", events=deleted, retention_hours=retention_hours)
        except Exception as exc:  # noqa: BLE001 - retried next round
            event(log, "feed prune failed", logging.WARNING, error=str(exc).strip())
        await asyncio.sleep(PRUNE_EVERY_S)
