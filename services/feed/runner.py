"""The feed's work: Alpaca's bars to ingest, each symbol's in time order, nothing twice, no gap.

* `backfill`: per symbol, the window services/feed/bars.py allows (from the start asked for, or
  from just after the newest stored bar) fetched `alpaca_fetch_limit` bars at a time, each page
  sent before the next is fetched, so a stopped backfill loses nothing and resumes where the store is.
* `live`: a backfill up to the last closed bar first (catching up from the store), then the
  WebSocket stream. The streams' threads put bars on a queue; this thread alone sends, so the gap
  before a bar (bars a dropped socket missed) is fetched and sent before the bar itself.

Sending is the ingest client's `Pusher` (services/ingest_client.py): batches, retries with backoff,
413 splits, per-record verdicts, exactly as the replay sends. Ingest validates every bar.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, text
from sqlalchemy.exc import OperationalError

from services.db.connect import make_engine
from services.feed.alpaca import Alpaca, Bar, DataStream, Transient, connected, stream_name
from services.feed.bars import LIVE_TIMEFRAME, Cursor, Window, after, closed_until, record_of, step_of
from services.ingest_client import Pusher
from services.logs import event
from services.retry import Backoff, retry

log = logging.getLogger(__name__)

FETCH_BACKOFF = (1.0, 30.0)  # seconds: first wait and cap between failed historical requests
STREAM_STOP_TIMEOUT_S = 5.0  # the stream threads are daemons: the process ends after them in any case

# The newest stored base bar of each symbol (one index probe per symbol).
NEWEST_SQL = text("""
SELECT s.symbol, (SELECT b.ts FROM bars b WHERE b.symbol = s.symbol AND b.timeframe = 'raw' ORDER BY b.ts DESC LIMIT 1)
FROM unnest(CAST(:symbols AS text[])) AS s(symbol)
""").bindparams(bindparam("symbols"))


def newest_stored(reader_url: str, symbols: Sequence[str], stop: threading.Event) -> dict[str, datetime] | None:
    """The newest stored base bar's time per symbol (symbols without one are left out), read with the
    read-only role; waits with backoff while PostgreSQL is unreachable. None if stopped first."""
    engine = make_engine(reader_url)

    def read() -> dict[str, datetime]:
        with engine.connect() as conn:
            return {symbol: ts for symbol, ts in conn.execute(NEWEST_SQL, {"symbols": list(symbols)}) if ts is not None}

    try:
        return retry(read, retry_on=(OperationalError,), backoff=Backoff(*FETCH_BACKOFF), stop=stop,
                     on_retry=lambda exc, delay: event(log, "database unreachable, retrying", logging.WARNING,
                                                       error=str(exc).splitlines()[0][:200], delay=round(delay, 1)))
    finally:
        engine.dispose()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Feed:
    def __init__(self, source: Alpaca, pusher: Pusher, cursor: Cursor, *, timeframe: str, fetch_limit: int,
                 batch: int, stop: threading.Event) -> None:
        self.source, self.pusher, self.cursor = source, pusher, cursor
        self.timeframe, self.fetch_limit, self.batch, self.stop = timeframe, fetch_limit, batch, stop
        self.counts: Counter[str] = Counter()  # fetched, requests, streamed, skipped, gap_fills
        self.streams: list[DataStream] = []
        self._threads: list[threading.Thread] = []
        self.streaming = False  # live: set once caught up, when the streams start
        self._backoff = Backoff(*FETCH_BACKOFF, rng=random.Random())

    # -- sending -----------------------------------------------------------------------------

    def _admit(self, bars: Iterable[Bar]) -> list[dict[str, object]]:
        """The records of the bars newer than their symbol's newest (the cursor moves past them)."""
        records = []
        for bar in bars:
            if not self.cursor.fresh(bar.symbol, bar.timestamp):
                self.counts["skipped"] += 1
                continue
            self.cursor.advance(bar.symbol, bar.timestamp)
            records.append(record_of(bar))
        return records

    def _send(self, records: list[dict[str, object]]) -> None:
        for i in range(0, len(records), self.batch):
            self.pusher.push(records[i:i + self.batch])

    def fill(self, window: Window) -> None:
        """Fetch `window` a page of `fetch_limit` bars at a time and send each page before the next."""
        start = window.start
        while start <= window.end and not self.stop.is_set():
            page = Window(window.symbol, start, window.end)
            bars = retry(lambda: self._fetch(page), retry_on=(Transient,), backoff=self._backoff, stop=self.stop,
                         on_retry=lambda exc, delay: event(log, "Alpaca request failed, retrying", logging.WARNING,
                                                           symbol=page.symbol, error=str(exc), delay=round(delay, 1)))
            if not bars:
                return
            self._send(self._admit(bars))
            if len(bars) < self.fetch_limit:
                return
            start = after(bars[-1].timestamp)

    def _fetch(self, window: Window) -> list[Bar]:
        self.counts["requests"] += 1
        bars = self.source.bars(window, self.timeframe, self.fetch_limit)
        self.counts["fetched"] += len(bars)
        return bars

    # -- modes -------------------------------------------------------------------------------

    def backfill(self, symbols: Sequence[str], start: datetime | None, end: datetime) -> None:
        """Every symbol's bars from `start` (or after its newest stored bar) to `end`, one symbol after another."""
        for symbol in symbols:
            window = self.cursor.window(symbol, start, end)
            if window is None:
                event(log, "nothing to fetch", symbol=symbol, newest=_iso(self.cursor.newest.get(symbol)),
                      end=_iso(end))
                continue
            event(log, "fetching history", symbol=symbol, start=_iso(window.start), end=_iso(window.end),
                  timeframe=self.timeframe)
            self.fill(window)
            if self.stop.is_set():
                return

    def live(self, symbols: Sequence[str], start: datetime | None) -> None:
        """Catch up to the last closed minute, then stream minute bars until `stop`."""
        step = step_of(LIVE_TIMEFRAME)
        self.backfill(symbols, start, closed_until(utcnow(), step))
        if self.stop.is_set():
            return
        arrived: queue.Queue[Bar] = queue.Queue()

        async def on_bar(bar: Bar) -> None:
            arrived.put(bar)

        self.streams = self.source.streams(tuple(symbols), on_bar)
        self._threads = [threading.Thread(target=s.run, name=f"alpaca-{stream_name(s)}", daemon=True)
                         for s in self.streams]
        for thread in self._threads:
            thread.start()
        self.streaming = True
        event(log, "streaming", symbols=list(symbols), streams=[stream_name(s) for s in self.streams])
        try:
            while not self.stop.is_set():
                try:
                    first = arrived.get(timeout=0.5)
                except queue.Empty:
                    continue
                self.take([first, *_drain(arrived, self.batch - 1)], step)
        finally:
            self._stop_streams()

    def take(self, bars: Sequence[Bar], step: timedelta) -> None:
        """Streamed bars in arrival order: each symbol's missing bars are fetched and sent before its next."""
        records: list[dict[str, object]] = []
        for bar in bars:
            self.counts["streamed"] += 1
            if self.cursor.fresh(bar.symbol, bar.timestamp):
                gap = self.cursor.gap(bar.symbol, bar.timestamp, step)
                if gap is not None:
                    self._send(records)
                    records = []
                    self.counts["gap_fills"] += 1
                    event(log, "filling a gap before a live bar", symbol=gap.symbol, start=_iso(gap.start),
                          end=_iso(gap.end))
                    self.fill(gap)
            records += self._admit([bar])
        self._send(records)

    def _stop_streams(self) -> None:
        for stream in self.streams:
            loop = getattr(stream, "_loop", None)  # alpaca-py's loop; stop() alone waits out a 5 s receive
            if loop is not None and loop.is_running():
                async def stop(s: DataStream = stream) -> None:
                    await s.stop_ws()
                    await s.close()

                try:
                    asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=5)
                except Exception as exc:  # noqa: BLE001 - the loop may end while stopping
                    event(log, "stream did not stop cleanly", logging.WARNING, error=repr(exc)[:200])
        deadline = time.monotonic() + STREAM_STOP_TIMEOUT_S
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- health ------------------------------------------------------------------------------

    def ready(self, live: bool) -> bool:
        """Live: caught up, every stream connected and subscribed. Backfill: running."""
        return not live or (self.streaming and all(connected(s) for s in self.streams))

    def alive(self) -> bool:
        """No stream thread has ended by itself (alpaca-py ends one on an insufficient subscription)."""
        return self.stop.is_set() or all(t.is_alive() for t in self._threads)

    def samples(self) -> Iterator[tuple[str, str, str, float, dict[str, str]]]:
        helps = {"requests": "Historical bar requests made.", "fetched": "Bars fetched from the historical API.",
                 "streamed": "Bars received from the WebSocket stream.",
                 "skipped": "Bars not sent: at or before their symbol's newest stored or sent bar.",
                 "gap_fills": "Gaps before a live bar filled from the historical API."}
        for name, help_text in helps.items():
            yield f"tickflow_feed_{name}", "counter", help_text, self.counts[name], {}
        for name, value in self.pusher.stats.snapshot().items():
            yield f"tickflow_feed_records_{name}", "counter", f"Records {name} (ingest's answers).", value, {}
        for stream in self.streams:
            yield ("tickflow_feed_stream_connected", "gauge", "1 while the stream is connected and subscribed.",
                   float(connected(stream)), {"stream": stream_name(stream)})
        for symbol, ts in sorted(self.cursor.newest.items()):
            yield ("tickflow_feed_newest_bar_timestamp_seconds", "gauge", "Newest bar stored or sent, per symbol.",
                   ts.timestamp(), {"symbol": symbol})


def _drain(q: queue.Queue[Bar], most: int) -> list[Bar]:
    out: list[Bar] = []
    while len(out) < most:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            break
    return out


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts is not None else None
