"""Helpers for the dashboard tests (not tests): prepared bars and signals, a feed client, receivers."""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Sequence

import psycopg2
import psycopg2.extras
from websockets.sync.client import ClientConnection, connect

from services.core.indicators import INDICATOR_COLUMNS, IndicatorParams
from services.core.records import StockPrice
from services.core.signals import SignalRules
from services.core.simulation import MarketSimulator, is_candle
from services.core.stream import AppliedBar, SymbolStream
from services.core.timeframes import Timeframe
from services.dashboard.webhooks import SIGNATURE_HEADER, verify

DASHBOARD_TABLES = ("dashboard_feed", "webhook_attempts", "webhook_deliveries", "webhook_cursors",
                    "market_summary_rules", "market_summaries", "recommendations")
BAR_INSERT = (f"INSERT INTO bars (symbol, ts, open, high, low, close, volume, {', '.join(INDICATOR_COLUMNS)}) "
              "VALUES %s")
BAR_TEMPLATE = "(%s, to_timestamp(%s), " + ", ".join(["%s"] * (5 + len(INDICATOR_COLUMNS))) + ")"
SIGNAL_INSERT = "INSERT INTO signals (symbol, ts, rule, side, price, value, reference) VALUES %s"
SIGNAL_TEMPLATE = "(%s, to_timestamp(%s), %s, %s, %s, %s, %s)"
# Rolled-up rows say their timeframe (and a candle how many base bars it holds).
ROLLED_BAR_INSERT = (f"INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume, base_bars, "
                     f"{', '.join(INDICATOR_COLUMNS)}) VALUES %s")
ROLLED_BAR_TEMPLATE = "(%s, %s, to_timestamp(%s), " + ", ".join(["%s"] * (6 + len(INDICATOR_COLUMNS))) + ")"
ROLLED_SIGNAL_INSERT = "INSERT INTO signals (symbol, timeframe, ts, rule, side, price, value, reference) VALUES %s"
ROLLED_SIGNAL_TEMPLATE = "(%s, %s, to_timestamp(%s), %s, %s, %s, %s, %s)"


def candles(symbols: Sequence[str], count: int, seed: int, start: float, interval: float = 1.0) -> list[dict]:
    """`count` candles (round robin over symbols) of a seeded simulation, without side records."""
    return [r for tick in MarketSimulator(symbols, seed, start, interval).stream(count) for r in tick if is_candle(r)]


def stream_rows(records: Iterable[dict]) -> tuple[list[tuple], list[tuple]]:
    """Bars (with indicators) and signals exactly as the processor computes them from `records`."""
    streams: dict[str, SymbolStream] = {}
    bars, signals = [], []
    for candle in records:
        bar = StockPrice(**candle)
        stream = streams.setdefault(bar.stock_symbol, SymbolStream(bar.stock_symbol, IndicatorParams(), SignalRules()))
        applied = stream.apply(bar)
        assert isinstance(applied, AppliedBar)
        bars.append((bar.stock_symbol, bar.timestamp, bar.opening_price, bar.high, bar.low, bar.closing_price,
                     bar.volume, *[getattr(applied.values, c) for c in INDICATOR_COLUMNS]))
        signals += [(bar.stock_symbol, bar.timestamp, s.rule, s.side, bar.closing_price, s.value, s.reference)
                    for s in applied.signals]
    return bars, signals


def rolled_rows(records: Iterable[dict], timeframes: str) -> tuple[list[tuple], list[tuple]]:
    """The closed candles of `timeframes` (e.g. "1m,5m") with indicators, and their signals, exactly as
    the processor stores them from `records`: (symbol, timeframe, ts, open, high, low, close, volume,
    base_bars, *indicators) and (symbol, timeframe, ts, rule, side, price, value, reference)."""
    specs = tuple(sorted((Timeframe.parse(t) for t in timeframes.split(",")), key=lambda t: t.seconds))
    streams: dict[str, SymbolStream] = {}
    bars, signals = [], []
    for candle in records:
        bar = StockPrice(**candle)
        stream = streams.setdefault(bar.stock_symbol, SymbolStream(bar.stock_symbol, IndicatorParams(), SignalRules(),
                                                                   specs))
        applied = stream.apply(bar)
        assert isinstance(applied, AppliedBar)
        for rolled in applied.rolled:
            c = rolled.candle
            bars.append((bar.stock_symbol, rolled.timeframe, c.start, c.open, c.high, c.low, c.close, c.volume,
                         c.bars, *[getattr(rolled.values, col) for col in INDICATOR_COLUMNS]))
            signals += [(bar.stock_symbol, rolled.timeframe, c.start, s.rule, s.side, c.close, s.value, s.reference)
                        for s in rolled.signals]
    return bars, signals


def insert_rolled(dsn: str, bars: list[tuple], signals: list[tuple]) -> None:
    """Insert rows of `rolled_rows` in one transaction (the feed's triggers ignore them: not base bars)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            if bars:
                psycopg2.extras.execute_values(cur, ROLLED_BAR_INSERT, bars, template=ROLLED_BAR_TEMPLATE,
                                               page_size=5000)
            if signals:
                psycopg2.extras.execute_values(cur, ROLLED_SIGNAL_INSERT, signals, template=ROLLED_SIGNAL_TEMPLATE,
                                               page_size=5000)
        conn.commit()
    finally:
        conn.close()


def insert_rows(dsn: str, bars: list[tuple], signals: list[tuple]) -> float:
    """Insert in ONE transaction (as the processor does); return time.time() right after the commit."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            if bars:
                psycopg2.extras.execute_values(cur, BAR_INSERT, bars, template=BAR_TEMPLATE, page_size=5000)
            if signals:
                psycopg2.extras.execute_values(cur, SIGNAL_INSERT, signals, template=SIGNAL_TEMPLATE, page_size=5000)
        conn.commit()
        return time.time()
    finally:
        conn.close()


def feed_after(dsn: str, after: int) -> list[tuple[int, str, str, float, str | None]]:
    """(id, kind, symbol, ts, rule) of every feed row after `after`, by id."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, kind, symbol, extract(epoch FROM ts)::float8, rule FROM dashboard_feed_events "
                        "WHERE id > %s ORDER BY id", (after,))
            return cur.fetchall()
    finally:
        conn.close()


def feed_head(dsn: str) -> int:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT coalesce(max(last_id), 0) FROM dashboard_feed")
            return cur.fetchone()[0]
    finally:
        conn.close()


def event_key(ev: dict[str, Any]) -> tuple:
    return ev["id"], ev["type"], ev["symbol"], ev["ts"], ev.get("rule")


class FeedClient:
    """A WebSocket client on /ws; a thread reads every message as it arrives and records the time."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.arrived: list[float] = []
        self.control: list[dict[str, Any]] = []
        self.last_id: int | None = None
        self.closed_with: str | None = None
        self._changed = threading.Condition()
        self._ws: ClientConnection | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)

    def __enter__(self) -> "FeedClient":
        self._ws = connect(self.url, open_timeout=10, max_size=2**24).__enter__()
        hello = json.loads(self._ws.recv(timeout=10))
        assert hello["type"] == "hello", hello
        self.control.append(hello)
        self.head = hello["head"]
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._ws is not None
        self._ws.__exit__(None, None, None)
        self._reader.join(5)

    def _read(self) -> None:
        assert self._ws is not None
        try:
            for raw in self._ws:
                now = time.time()
                msg = json.loads(raw)
                with self._changed:
                    if msg["type"] == "events":
                        self.events += msg["events"]
                        self.arrived += [now] * len(msg["events"])
                    else:
                        self.control.append(msg)
                    if "last_id" in msg:
                        self.last_id = msg["last_id"]
                    self._changed.notify_all()
        except Exception as exc:  # noqa: BLE001 - recorded; the waiting test reports it
            self.closed_with = repr(exc)
        finally:
            with self._changed:
                self.closed_with = self.closed_with or "closed"
                self._changed.notify_all()

    def receive_until(self, done: Callable[["FeedClient"], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not done(self):
                left = deadline - time.monotonic()
                if left <= 0 or self.closed_with:
                    raise AssertionError(f"{'timed out after %s s' % timeout if left <= 0 else self.closed_with} "
                                         f"waiting for {what}; have {len(self.events)} events, last id {self.last_id}")
                self._changed.wait(min(left, 0.5))


class HeadWatcher(threading.Thread):
    """Polls the feed's newest event id every few ms: when each id first became visible (committed)."""

    def __init__(self, dsn: str, every_s: float = 0.003) -> None:
        super().__init__(daemon=True)
        self.dsn, self.every_s = dsn, every_s
        self.seen: list[tuple[float, int]] = []  # (time, head) whenever the head moved
        self._halt = threading.Event()

    def run(self) -> None:
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                last = -1
                while not self._halt.is_set():
                    cur.execute("SELECT coalesce(max(last_id), 0) FROM dashboard_feed")
                    head = cur.fetchone()[0]
                    if head != last:
                        self.seen.append((time.time(), head))
                        last = head
                    self._halt.wait(self.every_s)
        finally:
            conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def visible_at(self, feed_id: int) -> float:
        for t, head in self.seen:
            if head >= feed_id:
                return t
        return math.nan


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    signature_ok: bool


class WebhookReceiver:
    """An HTTP receiver on 127.0.0.1 that records every POST. It checks the HMAC-SHA256 signature
    with `secret` as a real receiver would (401 when it does not match); otherwise `answer(key, n)`
    gives the status for the n-th (1-based) request carrying idempotency key `key`."""

    def __init__(self, secret: bytes, answer: Callable[[str, int], int] = lambda key, n: 200, port: int = 0) -> None:
        self.requests: list[Received] = []
        self._answer = answer
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key", "")
                signed = verify(secret, body, self.headers.get(SIGNATURE_HEADER))
                with receiver._lock:
                    n = receiver._counts[key] = receiver._counts.get(key, 0) + 1
                    status = receiver._answer(key, n) if signed else 401
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body, status, signed))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.requests)
