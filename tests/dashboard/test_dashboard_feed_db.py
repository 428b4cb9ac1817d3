"""The feed triggers (sql/0020) on the real PostgreSQL: commit-ordered ids, NOTIFY only on commit."""
from __future__ import annotations

import random
import select
import threading
import time

import psycopg2
import psycopg2.errors
import pytest
from dashboard_data import candles, feed_after, feed_head, insert_rows, stream_rows
from sqlalchemy import Engine, make_url, text
from support import TcpProxy, wait_until

from services.config import Settings
from services.dashboard.updates import UpdateListener, prune
from services.db.connect import make_engine

START = 1_700_000_000.0


def listener(dsn: str):  # type: ignore[no-untyped-def]
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute("LISTEN tickflow_feed")
    return conn


def notifications(conn, wait: float) -> list[str]:  # type: ignore[no-untyped-def]
    if select.select([conn], [], [], wait) != ([], [], []):
        conn.poll()
    got = [n.payload for n in conn.notifies]
    conn.notifies.clear()
    return got


def test_one_batch_gives_its_bars_then_its_signals_in_time_order(dash_db: Settings) -> None:
    bars, signals = stream_rows(candles(("AAPL", "MSFT"), 400, seed=3, start=START))
    assert signals, "the seeded simulation should fire signals"
    before = feed_head(dash_db.database_url)
    insert_rows(dash_db.database_url, bars, signals)

    rows = feed_after(dash_db.database_url, before)
    ids = [r[0] for r in rows]
    assert ids[0] > before
    assert ids == list(range(ids[0], ids[0] + len(bars) + len(signals)))  # one block, no holes
    expected_bars = sorted((round(ts, 6), sym) for sym, ts, *_ in bars)
    expected_signals = sorted((round(ts, 6), sym, rule) for sym, ts, rule, *_ in signals)
    assert [(round(r[3], 6), r[2]) for r in rows[:len(bars)]] == expected_bars
    assert all(r[1] == "bar" and r[4] is None for r in rows[:len(bars)])
    assert [(round(r[3], 6), r[2], r[4]) for r in rows[len(bars):]] == expected_signals
    assert all(r[1] == "signal" for r in rows[len(bars):])


def test_notify_is_sent_on_commit_only_and_duplicates_or_rollbacks_announce_nothing(dash_db: Settings) -> None:
    bars, signals = stream_rows(candles(("AAPL",), 60, seed=4, start=START))
    dsn = dash_db.database_url
    insert_rows(dsn, bars[:30], [])
    listen = listener(dash_db.dashboard_database_url)  # the dashboard's login may LISTEN
    try:
        head = feed_head(dsn)
        writer = psycopg2.connect(dsn)
        try:
            # Inserted but not committed: nothing is visible, nothing is announced.
            with writer.cursor() as cur:
                insert_sql = ("INSERT INTO bars (symbol, ts, open, high, low, close, volume) "
                              "VALUES (%s, to_timestamp(%s), %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING")
                for row in bars[30:40]:
                    cur.execute(insert_sql, row[:7])
            assert notifications(listen, 0.3) == []
            assert feed_after(dsn, head) == []
            writer.rollback()  # rolled back: never announced, never visible
            assert notifications(listen, 0.3) == []
            assert feed_after(dsn, head) == []

            # A statement that inserts nothing new (all duplicates) adds no feed rows and no NOTIFY.
            with writer.cursor() as cur:
                cur.executemany(insert_sql, [row[:7] for row in bars[:30]])
            writer.commit()
            assert notifications(listen, 0.3) == []
            assert feed_after(dsn, head) == []

            # Committed: one NOTIFY per statement, payload = the statement's last feed id.
            with writer.cursor() as cur:
                cur.execute("INSERT INTO bars (symbol, ts, open, high, low, close, volume) "
                            "SELECT symbol, to_timestamp(ts), o, h, l, c, v FROM (VALUES " +
                            ", ".join(["(%s, %s::float8, %s::float8, %s::float8, %s::float8, %s::float8, "
                                       "%s::bigint)"] * 10)
                            + ") AS x(symbol, ts, o, h, l, c, v)", [x for row in bars[30:40] for x in row[:7]])
            assert notifications(listen, 0.3) == []  # still inside the transaction
            writer.commit()
        finally:
            writer.close()
        got = notifications(listen, 2.0)
        rows = feed_after(dsn, head)
        assert len(rows) == 10
        # Ids drawn by the rolled-back statements are simply never used.
        assert got == [str(rows[-1][0])]
    finally:
        listen.close()


def test_concurrent_batches_never_let_a_reader_skip_a_feed_id(dash_db: Settings) -> None:
    """Several writers commit small batches while holding their transactions open for random times;
    a reader that only ever asks for "id > the last id I saw" must end with every row."""
    dsn = dash_db.database_url
    start_head = feed_head(dsn)
    writers, batches, per_batch = 4, 25, 3
    errors: list[BaseException] = []

    def write(w: int) -> None:
        rng = random.Random(w)
        conn = psycopg2.connect(dsn)
        try:
            for b in range(batches):
                with conn.cursor() as cur:
                    for i in range(per_batch):
                        cur.execute("INSERT INTO bars (symbol, ts, open, high, low, close, volume) "
                                    "VALUES (%s, to_timestamp(%s), 1, 1, 1, 1, 1)", (f"W{w}", START + b * 10 + i))
                time.sleep(rng.uniform(0, 0.01))  # hold the transaction open: others queue or commit first
                conn.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        conn = psycopg2.connect(dash_db.dashboard_database_url)
        conn.autocommit = True
        last = start_head
        try:
            with conn.cursor() as cur:
                while True:
                    finished = done.is_set()
                    cur.execute("SELECT id FROM dashboard_feed_events WHERE id > %s ORDER BY id", (last,))
                    ids = [r[0] for r in cur.fetchall()]
                    if ids:
                        seen.extend(ids)
                        last = ids[-1]
                    if finished:
                        return
        finally:
            conn.close()

    reader = threading.Thread(target=read)
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    reader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    done.set()
    reader.join(10)
    assert errors == []
    everything = [r[0] for r in feed_after(dsn, start_head)]
    assert len(everything) == writers * batches * per_batch
    assert seen == everything  # nothing skipped, nothing twice, in id order


def test_only_the_triggers_write_the_feed(dash_db: Settings) -> None:
    conn = psycopg2.connect(dash_db.database_url)  # the services' writer role
    try:
        with conn.cursor() as cur:
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("INSERT INTO dashboard_feed (first_id, last_id, kind, symbols, ts) "
                            "VALUES (-1, -1, 'bar', '{X}', ARRAY[now()])")
            conn.rollback()
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("SELECT nextval('dashboard_feed_id_seq')")
            conn.rollback()
            with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                cur.execute("UPDATE dashboard_feed SET symbols = '{X}'")
            conn.rollback()
    finally:
        conn.close()


def test_pruning_removes_an_old_prefix_and_keeps_the_newest_batch(dash_db: Settings, owner_db: Engine) -> None:
    bars, _ = stream_rows(candles(("AAPL",), 50, seed=5, start=START))
    head = feed_head(dash_db.database_url)
    for chunk in (bars[:20], bars[20:35], bars[35:45], bars[45:]):  # four batches
        insert_rows(dash_db.database_url, chunk, [])
    ids = [r[0] for r in feed_after(dash_db.database_url, head)]
    with owner_db.begin() as conn:  # the first two batches are two days old
        conn.execute(text("UPDATE dashboard_feed SET created_at = now() - interval '2 days' WHERE last_id <= :i"),
                     {"i": ids[34]})
    writer = make_engine(dash_db.database_url)
    try:
        assert prune(writer, retention_hours=24) == 35
        assert [r[0] for r in feed_after(dash_db.database_url, head)] == ids[35:]
        with owner_db.begin() as conn:  # everything old: the newest batch still stays (the head survives)
            conn.execute(text("UPDATE dashboard_feed SET created_at = now() - interval '2 days'"))
        assert prune(writer, retention_hours=24) == 10
        assert [r[0] for r in feed_after(dash_db.database_url, head)] == ids[45:]
        assert feed_head(dash_db.database_url) == ids[-1]
    finally:
        writer.dispose()


def test_the_listener_survives_a_dropped_connection_without_losing_an_event(
        dash_db: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Commits made while the dashboard's PostgreSQL connection is down are published after it reconnects."""
    url = make_url(dash_db.dashboard_database_url)
    proxy = TcpProxy((url.host, url.port))
    published: list[dict] = []
    heads: list[int] = []

    def publish(events: list[dict], last_id: int) -> None:
        published.extend(events)
        heads.append(last_id)

    listener = UpdateListener(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
                            publish, poll_s=0.2)
    bars, signals = stream_rows(candles(("AAPL",), 300, seed=9, start=START))
    listener.start()
    try:
        wait_until(listener.connected.is_set, timeout=10, what="the listener connected")
        start = heads[0]
        insert_rows(dash_db.database_url, bars[:100], [s for s in signals if s[1] <= bars[99][1]])
        wait_until(lambda: sum(e["type"] == "bar" for e in published) == 100, timeout=10, what="100 bars")
        assert proxy.cut() >= 1
        # While it is down (and reconnecting), more batches commit.
        insert_rows(dash_db.database_url, bars[100:200], [s for s in signals if bars[99][1] < s[1] <= bars[199][1]])
        insert_rows(dash_db.database_url, bars[200:], [s for s in signals if s[1] > bars[199][1]])
        wait_until(lambda: len(published) == len(bars) + len(signals), timeout=15, what="every event")
    finally:
        listener.stop()
        listener.join(5)
        listener.close()
        proxy.close()
    assert [e["id"] for e in published] == [r[0] for r in feed_after(dash_db.database_url, start)]
    assert any(r.getMessage() == "feed connection lost; reconnecting" for r in caplog.records)


class CommitDuringCatchUp(UpdateListener):
    """A listener whose first catch-up is followed by another transaction's commit and one more query
    of its own: the NOTIFY reaches the socket while that query runs, so psycopg2 takes it into
    conn.notifies and select() never sees it (what happened, by chance, under load in CI)."""

    def __init__(self, *args, commit, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.commit = commit

    def _catch_up(self, cur) -> None:  # type: ignore[no-untyped-def]
        super()._catch_up(cur)
        if self.commit is not None:
            self.commit, commit = None, self.commit
            commit()
            cur.execute("SELECT 1")


def test_a_notification_that_arrives_during_a_query_is_acted_on_at_once(dash_db: Settings) -> None:
    published: list[dict] = []
    bars, _ = stream_rows(candles(("AAPL",), 50, seed=5, start=START))
    listener = CommitDuringCatchUp(dash_db.dashboard_database_url, lambda events, _: published.extend(events),
                                   poll_s=60.0, commit=lambda: insert_rows(dash_db.database_url, bars, []))
    listener.start()
    try:
        # Not the 60 s poll: the notification read during the listener's own query must count.
        wait_until(lambda: len(published) == len(bars), timeout=10, what="the 50 bars committed during a catch-up")
    finally:
        listener.stop()
        listener.join(5)
        listener.close()
    assert [(e["symbol"], round(e["ts"], 6)) for e in published] == [(s, round(t, 6)) for s, t, *_ in bars]
