"""The WebSocket /ws: every bar and signal the processor commits, in commit order, within a second;
a reconnecting client resumes from its last id and gets exactly what it missed."""
from __future__ import annotations

import math
import statistics
import time
from typing import Any, Iterable

import httpx
import psycopg2
import pytest
from dashboard_data import FeedClient, HeadWatcher, candles, event_key, feed_after, feed_head, insert_rows, stream_rows
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from starlette.websockets import WebSocketDisconnect
from support import wait_until

from services.config import Settings
from services.dashboard.app import create_app

SYMBOLS = ("AAPL", "GOOGL", "AMZN", "MSFT", "TSLA")


def ws_url(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/ws" + (f"?{query}" if query else "")


def post(ingest: str, records: list[dict], chunk: int) -> None:
    """Send like the generator does: in requests of `chunk` records, every one accepted."""
    with httpx.Client(timeout=30) as http:
        for i in range(0, len(records), chunk):
            part = records[i:i + chunk]
            response = http.post(f"{ingest}/ingest", json=part)
            assert response.status_code == 200 and response.json()["accepted"] == len(part), response.text


def bar_count(db: Engine) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM bars WHERE timeframe = 'raw'")).scalar_one()


def feed_keys(rows: Iterable[tuple]) -> list[tuple]:
    return [(i, kind, symbol, round(ts, 6), rule) for i, kind, symbol, ts, rule in rows]


def event_keys(events: Iterable[dict[str, Any]]) -> list[tuple]:
    return [(i, kind, symbol, round(ts, 6), rule) for i, kind, symbol, ts, rule in map(event_key, events)]


def stored_values(dsn: str) -> tuple[dict, dict]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT symbol, round(extract(epoch FROM ts)::numeric, 6)::float8, close, rsi, macd "
                        "FROM bars WHERE timeframe = 'raw'")
            bars = {(s, t): (c, r, m) for s, t, c, r, m in cur.fetchall()}
            cur.execute("SELECT symbol, round(extract(epoch FROM ts)::numeric, 6)::float8, rule, side, price "
                        "FROM signals WHERE timeframe = 'raw'")
            signals = {(s, t, r): (side, p) for s, t, r, side, p in cur.fetchall()}
        return bars, signals
    finally:
        conn.close()


def test_every_committed_bar_and_signal_arrives_in_commit_order_within_a_second(
        dashboard: str, pipeline: str, dash_stack: Settings, owner_db: Engine) -> None:
    dsn = dash_stack.database_url
    records = candles(SYMBOLS, 3000, seed=17, start=math.floor(time.time()) - 7200)
    watcher = HeadWatcher(dsn)
    watcher.start()
    try:
        with FeedClient(ws_url(dashboard)) as client:
            start = client.head
            post(pipeline, records, chunk=100)  # 30 requests: the processor commits many batches
            wait_until(lambda: bar_count(owner_db) == len(records), timeout=120, interval=0.2,
                       what=f"{len(records)} bars committed by the processor")
            final = feed_head(dsn)
            client.receive_until(lambda c: (c.last_id or 0) >= final, timeout=10, what=f"feed id {final}")
    finally:
        watcher.stop()

    committed = feed_after(dsn, start)
    assert event_keys(client.events) == feed_keys(committed)  # all of them, once each, in commit (id) order
    kinds = [e["type"] for e in client.events]
    assert kinds.count("bar") == len(records) and kinds.count("signal") > 10
    bars, signals = stored_values(dsn)
    for e in client.events:  # the values are the committed ones
        if e["type"] == "bar":
            assert (e["close"], e["rsi"], e["macd"]) == bars[(e["symbol"], round(e["ts"], 6))]
        else:
            assert (e["side"], e["price"]) == signals[(e["symbol"], round(e["ts"], 6), e["rule"])]
    # Latency: from the moment a feed id became visible in PostgreSQL (polled every 3 ms) to its arrival.
    latencies = [arrived - watcher.visible_at(e["id"]) for e, arrived in zip(client.events, client.arrived)]
    assert not any(math.isnan(x) for x in latencies)
    print(f"\ncommit-visible -> WebSocket: p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"max {max(latencies) * 1000:.1f} ms over {len(latencies)} events")
    assert max(latencies) < 1.0


def test_a_reconnecting_client_gets_exactly_what_it_missed(dashboard: str, pipeline: str, dash_stack: Settings,
                                                           owner_db: Engine) -> None:
    dsn = dash_stack.database_url
    records = candles(SYMBOLS, 1500, seed=19, start=math.floor(time.time()) - 7200)
    first_part, missed_part, live_part = records[:500], records[500:1000], records[1000:]

    with FeedClient(ws_url(dashboard)) as first:
        start = first.head
        post(pipeline, first_part, chunk=100)
        first.receive_until(lambda c: sum(e["type"] == "bar" for e in c.events) == len(first_part), timeout=60,
                            what="the first 500 bars")
        assert event_keys(first.events) == feed_keys(feed_after(dsn, start))
        last = first.last_id
    assert last is not None

    post(pipeline, missed_part, chunk=100)  # committed while nobody listens
    wait_until(lambda: bar_count(owner_db) == 1000, timeout=60, what="1000 bars committed")
    missed = feed_after(dsn, last)
    assert sum(kind == "bar" for _, kind, *_ in missed) == 500

    with FeedClient(ws_url(dashboard, f"after={last}")) as second:
        assert second.control[0]["after"] == last
        second.receive_until(lambda c: len(c.events) >= len(missed), timeout=10, what="the missed events")
        assert event_keys(second.events) == feed_keys(missed)  # exactly the missed ones: no gap, no repeat
        post(pipeline, live_part, chunk=100)  # and then it carries on live
        wait_until(lambda: bar_count(owner_db) == len(records), timeout=60, what="all bars committed")
        final = feed_head(dsn)
        second.receive_until(lambda c: (c.last_id or 0) >= final, timeout=10, what=f"feed id {final}")
    assert event_keys(second.events) == feed_keys(feed_after(dsn, last))
    assert [e for e in first.events if e["id"] > last] == []
    assert [e["id"] for e in first.events] + [e["id"] for e in second.events] == \
        [r[0] for r in feed_after(dsn, start)]


def test_commit_to_websocket_latency(dashboard: str, dash_db: Settings) -> None:
    """One writer transaction at a time (as a processor batch): time from COMMIT returning to the message."""
    bars, signals = stream_rows(candles(("AAPL", "MSFT"), 1200, seed=23, start=1_700_000_000.0))
    latencies = []
    with FeedClient(ws_url(dashboard)) as client:
        for i in range(0, len(bars), 40):  # 30 transactions of 40 bars (+ their signals)
            chunk = bars[i:i + 40]
            keys = {(s, t) for s, t, *_ in chunk}
            seen = len(client.events)
            committed_at = insert_rows(dash_db.database_url, chunk, [s for s in signals if (s[0], s[1]) in keys])
            client.receive_until(lambda c: sum(e["type"] == "bar" for e in c.events[seen:]) >= len(chunk),
                                 timeout=5, what=f"batch {i // 40}")
            latencies.append(client.arrived[-1] - committed_at)
    latencies.sort()
    print(f"\ncommit -> WebSocket (last event of the batch): p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p90 {latencies[int(len(latencies) * 0.9)] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")
    assert latencies[-1] < 1.0


def test_filters_errors_and_resets(dash_db: Settings) -> None:
    bars, signals = stream_rows(candles(("AAPL", "MSFT"), 600, seed=29, start=1_700_000_000.0))
    with TestClient(create_app(dash_db)) as client:
        for query, message in (("after=abc", "after must be an event id"), ("symbols=NOPE", "unknown symbol(s) NOPE"),
                               ("kinds=trade", "unknown kind(s) trade"), ("since=1", "unknown parameter(s) since"),
                               ("after=" + "9" * 25, "an integer from 0 to 9223372036854775807"),  # beyond bigint
                               ("after=%D9%A1%D9%A2", "after must be an event id")):  # Arabic-Indic digits
            with client.websocket_connect(f"/ws?{query}") as ws:
                error = ws.receive_json()
                assert error["type"] == "error" and message in error["detail"]
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == 1008

        before = feed_head(dash_db.database_url)
        wait_until(lambda: client.app.state.hub.head == before, timeout=10, what="the dashboard at the feed head")
        with client.websocket_connect("/ws?symbols=msft&kinds=signal") as only, client.websocket_connect("/ws") as all_:
            assert only.receive_json()["type"] == "hello" and all_.receive_json()["type"] == "hello"
            insert_rows(dash_db.database_url, bars, signals)
            head = feed_head(dash_db.database_url)
            got: list[dict] = []
            while not got or got[-1]["last_id"] < head:
                got.append(only.receive_json())
            msft_signals = [e for m in got for e in m["events"]]
            assert [(e["symbol"], e["type"]) for e in msft_signals] == [("MSFT", "signal")] * len(msft_signals)
            assert sorted((e["ts"], e["rule"]) for e in msft_signals) == \
                sorted((s[1], s[2]) for s in signals if s[0] == "MSFT")
            everything: list[dict] = []
            while not everything or everything[-1]["last_id"] < head:
                everything.append(all_.receive_json())
            assert len([e for m in everything for e in m["events"]]) == len(bars) + len(signals)

        # Resuming from an id the feed no longer holds (pruned) or that it never had: told to reload.
        oldest = feed_after(dash_db.database_url, 0)[0][0]
        with client.websocket_connect(f"/ws?after={oldest - 5}") as ws:
            assert ws.receive_json()["type"] == "hello"
            reset = ws.receive_json()
            assert reset["type"] == "reset" and "pruned" in reset["reason"] and reset["head"] == head
        with client.websocket_connect(f"/ws?after={head + 100}") as ws:
            assert ws.receive_json()["type"] == "hello"
            reset = ws.receive_json()
            assert reset["type"] == "reset" and "beyond the newest" in reset["reason"]
        with client.websocket_connect(f"/ws?after={oldest - 1}&kinds=bar") as ws:  # the whole feed, bars only
            assert ws.receive_json()["type"] == "hello"
            resumed: list[dict] = []
            while not resumed or resumed[-1]["last_id"] < head:
                resumed.append(ws.receive_json())
            assert [e["type"] for m in resumed for e in m["events"]] == ["bar"] * len(bars)
