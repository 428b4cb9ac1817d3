"""`python -m services.feed alpaca` against a FAKE Alpaca (tests/alpaca_fake.py: no outside network here),
through the real ingest -> Kafka -> processor -> PostgreSQL: a backfill stores exactly the fake's bars,
live bars arrive, a dropped socket loses none, a restart resumes from the newest stored bar; each
asserted on the rows in PostgreSQL. One pipeline and one fake serve the module; each test has symbols
of its own."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import orjson
import pytest
from alpaca_fake import FakeAlpaca, FakeBar
from namespaces import namespaced, own_topics
from running_services import RunningPipeline, ingest_and_processor
from sqlalchemy import Engine, text
from streams import truncate_outputs
from support import ROOT, ServiceProcess, free_port, wait_until

from services.config import Settings

KEY, SECRET = "PKTESTKEYID0000001", "fake-secret-0123456789abcdefghijklmnop"
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
PAGE, FETCH_LIMIT = 7, 25  # the fake's page size and the feed's bars per request: several of each per window


@pytest.fixture(scope="module")
def alpaca() -> Iterator[FakeAlpaca]:
    fake = FakeAlpaca(KEY, SECRET, page_size=PAGE).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def pipeline(base_settings: Settings, owner_db: Engine, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[RunningPipeline]:
    with pytest.MonkeyPatch.context() as env, own_topics(namespaced(base_settings, "test-feed")) as stack:
        env.setenv("TICKFLOW_SYMBOL_PATTERN", ".*")  # ingest accepts every well-formed symbol
        truncate_outputs(owner_db)
        with ingest_and_processor(stack, tmp_path_factory.mktemp("feed")) as running:
            running.ingest.outlive_test()
            running.processor.outlive_test()
            yield running


def feed_env(pipeline: RunningPipeline, alpaca: FakeAlpaca, **extra: str) -> dict[str, str]:
    return {**pipeline.env, "APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET,
            "TICKFLOW_ALPACA_DATA_URL": alpaca.rest_url, "TICKFLOW_ALPACA_STREAM_URL": alpaca.stream_url,
            "TICKFLOW_INGEST_URL": pipeline.ingest_url, "TICKFLOW_ALPACA_FETCH_LIMIT": str(FETCH_LIMIT),
            "TICKFLOW_LOG_LEVEL": "DEBUG", **extra}


def minute_bars(symbol: str, start: datetime, count: int, price: float, volume: float) -> list[FakeBar]:
    """`count` one-minute bars from `start`, each price a little different, so every row is told apart."""
    out = []
    for i in range(count):
        o = price * (1 + i / 1000)
        out.append(FakeBar(symbol, start + i * MINUTE, o, o * 1.01, o * 0.99, o * 1.005, volume * (1 + i % 3)))
    return out


def stored(db: Engine, symbol: str) -> list[tuple]:
    with db.connect() as conn:
        rows = conn.execute(text("SELECT ts, open, high, low, close, volume FROM bars "
                                 "WHERE symbol = :s AND timeframe = 'raw' ORDER BY ts"), {"s": symbol})
        return [tuple(r) for r in rows]


def rows_of(bars: list[FakeBar]) -> list[tuple]:
    return [(b.ts, b.open, b.high, b.low, b.close, b.volume) for b in sorted(bars, key=lambda b: b.ts)]


def wait_stored(db: Engine, symbol: str, count: int) -> list[tuple]:
    def enough() -> list[tuple] | None:
        rows = stored(db, symbol)
        return rows if len(rows) >= count else None

    return wait_until(enough, timeout=60, interval=0.2, what=f"{count} {symbol} bars in PostgreSQL")


def late_bars(db: Engine, symbols: tuple[str, ...]) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM late_bars WHERE symbol = ANY(:s)"),
                            {"s": list(symbols)}).scalar_one()


def recent_minute(minutes_ago: int) -> datetime:
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    return now - minutes_ago * MINUTE


def test_a_backfill_stores_exactly_the_fakes_bars_and_never_logs_the_secret(
        pipeline: RunningPipeline, alpaca: FakeAlpaca, owner_db: Engine) -> None:
    start = datetime(2024, 3, 4, 14, 30, tzinfo=timezone.utc)
    stock = minute_bars("IBM", start, 60, 190.0, 1200)
    coin = minute_bars("DOGE/USD", start, 45, 0.0812, 1234.5678)  # a price below 1, fractional volume
    outside = [*minute_bars("IBM", start - 5 * MINUTE, 5, 180.0, 10),
               *minute_bars("IBM", start + 90 * MINUTE, 5, 200, 10)]
    alpaca.add([*stock, *coin, *outside])

    done = subprocess.run(
        [sys.executable, "-m", "services.feed", "alpaca", "backfill", "--symbols", "IBM,DOGE/USD",
         "--start", start.isoformat(), "--end", (start + 89 * MINUTE).isoformat(), "--ops-port", "0"],
        cwd=ROOT, env=feed_env(pipeline, alpaca), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["fetched"], summary["sent"], summary["accepted"], summary["rejected"]) == (105, 105, 105, 0)
    assert summary["requests"] == 3 + 2  # 60 IBM bars: 25 + 25 + 10; 45 DOGE/USD bars: 25 + 20
    assert SECRET not in done.stdout + done.stderr and KEY not in done.stdout + done.stderr
    assert '"level":"debug"' in done.stderr  # the log ran at DEBUG

    assert wait_stored(owner_db, "IBM", 60) == rows_of(stock)  # values and count, nothing outside the window
    assert wait_stored(owner_db, "DOGE/USD", 45) == rows_of(coin)
    pages = [r for r in alpaca.requests_for("IBM") if r.get("page_token")]
    assert pages and all(int(r["limit"]) <= FETCH_LIMIT for r in alpaca.requests_for("IBM"))


def test_keys_alpaca_refuses_stop_the_feed_with_one_line_and_exit_2(
        pipeline: RunningPipeline, alpaca: FakeAlpaca) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "services.feed", "alpaca", "backfill", "--symbols", "IBM", "--start", "2024-03-04",
         "--end", "2024-03-05", "--ops-port", "0"],
        cwd=ROOT, env=feed_env(pipeline, alpaca, APCA_API_SECRET_KEY="not-the-secret"), capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 2, done.stderr[-3000:]
    refused = [orjson.loads(line) for line in done.stderr.splitlines() if '"Alpaca refused' in line]
    assert [(r["level"], r["status"], r["hint"]) for r in refused] == [
        ("error", 401, "check APCA_API_KEY_ID and APCA_API_SECRET_KEY")]
    assert "Traceback" not in done.stderr and "not-the-secret" not in done.stdout + done.stderr


def test_a_silent_alpaca_times_out_and_the_request_is_retried(
        pipeline: RunningPipeline, alpaca: FakeAlpaca, owner_db: Engine) -> None:
    start = datetime(2024, 3, 5, 14, 30, tzinfo=timezone.utc)
    bars = minute_bars("AMD", start, 10, 180.0, 300)
    alpaca.add(bars)
    alpaca.stall(1)  # the first request is taken and never answered
    done = subprocess.run(
        [sys.executable, "-m", "services.feed", "alpaca", "backfill", "--symbols", "AMD", "--start", start.isoformat(),
         "--end", (start + 9 * MINUTE).isoformat(), "--ops-port", "0", "--timeout", "1"],
        cwd=ROOT, env=feed_env(pipeline, alpaca), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    first_pages = [r["start"] for r in alpaca.requests_for("AMD") if not r.get("page_token")]
    assert first_pages == [start.isoformat()] * 2  # the unanswered request, then the same again
    retried = [orjson.loads(line) for line in done.stderr.splitlines() if "Alpaca request failed, retrying" in line]
    assert len(retried) == 1 and "timed out" in retried[0]["error"].lower()
    assert wait_stored(owner_db, "AMD", 10) == rows_of(bars)


class LiveFeed:
    """`python -m services.feed alpaca live` as a service, ready once caught up and subscribed."""

    def __init__(self, pipeline: RunningPipeline, alpaca: FakeAlpaca, log_dir: Path, symbols: str,
                 start: datetime) -> None:
        self.port = free_port()
        self.process = ServiceProcess("feed", ["alpaca", "live", "--symbols", symbols, "--start", start.isoformat(),
                                               "--ops-port", str(self.port)],
                                      feed_env(pipeline, alpaca), log_dir)
        self.process.wait_http(f"http://127.0.0.1:{self.port}/readyz")

    def stop(self) -> None:
        assert self.process.stop() == 0, self.process.log_tail()
        assert SECRET not in self.process.log_path.read_text()


@pytest.fixture(scope="module")
def live(pipeline: RunningPipeline, alpaca: FakeAlpaca, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[LiveFeed, datetime]]:
    """A live feed of MSFT and ETH/USD that caught up on 10 minutes of history; the first live minute."""
    base = recent_minute(60)
    alpaca.add([*minute_bars("MSFT", base, 10, 410.0, 500), *minute_bars("ETH/USD", base, 10, 3400.0, 0.75)])
    feed = LiveFeed(pipeline, alpaca, tmp_path_factory.mktemp("live"), "MSFT,ETH/USD", base)
    feed.process.outlive_test()
    yield feed, base + 10 * MINUTE
    feed.stop()


def test_live_bars_arrive(live: tuple[LiveFeed, datetime], alpaca: FakeAlpaca, owner_db: Engine) -> None:
    _, first = live
    assert alpaca.subscribed("MSFT") and alpaca.subscribed("ETH/USD")
    stock, coin = minute_bars("MSFT", first, 3, 415.0, 600), minute_bars("ETH/USD", first, 3, 3450.0, 0.5)
    for bars in (stock, coin):
        assert alpaca.push(bars) == 1  # streamed to the feed's socket
    assert wait_stored(owner_db, "MSFT", 13)[10:] == rows_of(stock)
    assert wait_stored(owner_db, "ETH/USD", 13)[10:] == rows_of(coin)


def test_a_dropped_socket_reconnects_and_no_bar_is_missing(
        live: tuple[LiveFeed, datetime], alpaca: FakeAlpaca, owner_db: Engine) -> None:
    _, first = live
    wait_stored(owner_db, "MSFT", 13)  # after test_live_bars_arrive (or alone: the gap fill brings them)
    sessions = alpaca.sessions
    alpaca.drop()
    during = minute_bars("MSFT", first + 3 * MINUTE, 4, 420.0, 700)
    assert alpaca.push(during) == 0  # nobody is connected: these exist in the history only
    alpaca.reopen()
    wait_until(lambda: alpaca.subscribed("MSFT") and alpaca.sessions > sessions, timeout=30,
               what="the feed to reconnect and subscribe again")
    after = minute_bars("MSFT", first + 7 * MINUTE, 2, 425.0, 800)
    asked_before = len(alpaca.requests_for("MSFT"))
    assert alpaca.push(after) == 1

    rows = wait_stored(owner_db, "MSFT", 19)
    assert rows[13:] == rows_of([*during, *after]) and len(rows) == 19
    assert [b[0] - a[0] for a, b in zip(rows, rows[1:])] == [MINUTE] * 18  # no gap
    fill = alpaca.requests_for("MSFT")[asked_before]  # the gap before the first bar after the drop
    assert (fill["start"], fill["end"]) == ((first + 2 * MINUTE + SECOND).isoformat(),
                                            (first + 7 * MINUTE - SECOND).isoformat())
    assert late_bars(owner_db, ("MSFT", "ETH/USD")) == 0  # nothing was sent twice


def test_a_restart_resumes_after_the_newest_stored_bar(
        pipeline: RunningPipeline, alpaca: FakeAlpaca, owner_db: Engine, tmp_path: Path) -> None:
    base = recent_minute(90)
    history = [*minute_bars("NVDA", base, 20, 900.0, 300), *minute_bars("SOL/USD", base, 20, 150.0, 2.5)]
    alpaca.add(history)
    feed = LiveFeed(pipeline, alpaca, tmp_path, "NVDA,SOL/USD", base)
    first_live = [*minute_bars("NVDA", base + 20 * MINUTE, 2, 905.0, 310),
                  *minute_bars("SOL/USD", base + 20 * MINUTE, 2, 151.0, 2.25)]
    assert alpaca.push(first_live) == 2
    wait_stored(owner_db, "NVDA", 22)
    wait_stored(owner_db, "SOL/USD", 22)
    feed.stop()

    while_down = [*minute_bars("NVDA", base + 22 * MINUTE, 5, 910.0, 320),
                  *minute_bars("SOL/USD", base + 22 * MINUTE, 5, 152.0, 2.125)]
    alpaca.add(while_down)
    asked_before = {s: len(alpaca.requests_for(s)) for s in ("NVDA", "SOL/USD")}
    feed = LiveFeed(pipeline, alpaca, tmp_path, "NVDA,SOL/USD", base)
    newest = base + 21 * MINUTE
    for symbol in ("NVDA", "SOL/USD"):
        asked = alpaca.requests_for(symbol)[asked_before[symbol]:]
        assert asked and asked[0]["start"] == (newest + SECOND).isoformat()  # only after the newest stored bar
        assert all(datetime.fromisoformat(r["start"]) > newest for r in asked)
    last_live = [*minute_bars("NVDA", base + 27 * MINUTE, 1, 915.0, 330),
                 *minute_bars("SOL/USD", base + 27 * MINUTE, 1, 153.0, 2.0)]
    assert alpaca.push(last_live) == 2
    for symbol in ("NVDA", "SOL/USD"):
        rows = wait_stored(owner_db, symbol, 28)
        assert rows == rows_of([b for b in [*history, *first_live, *while_down, *last_live] if b.symbol == symbol])
        assert [b[0] - a[0] for a, b in zip(rows, rows[1:])] == [MINUTE] * 27  # no gap
    assert late_bars(owner_db, ("NVDA", "SOL/USD")) == 0  # and nothing sent twice
    feed.stop()
