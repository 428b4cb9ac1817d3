"""Processor, ingest and latency benchmarks on the real local Kafka and PostgreSQL.

Each figure is measured beside its baselines in the same run, on the same data:
- processor: sustained bars/s of `python -m services.processor` on a pre-filled topic, next to
  the raw consume rate (poll + decode) and a naive serial consume → COPY-upsert → commit loop;
- ingest: records/s through POST /ingest (batches of 500, and single records) next to the raw
  producer rate, and `python -m services.replay` of real hourly history (the backtesting package's
  EURUSD file under 40 symbols) through the same ingest;
- latency: a candle's timestamp (stamped by the sender the moment it POSTs it to ingest) → the
  moment its commit is announced by PostgreSQL (NOTIFY, delivered at commit), at 5,000 bars/s.
"""
from __future__ import annotations

import csv
import http.client
import io
import math
import os
import select
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pandas as pd
import psycopg2
from kafka import TopicPartition

from bench import peer
from bench.measure import ProcessorRun, measure_committed, rss_mb
from bench.report import Measurement, Report
from bench.stack import ROOT, BenchStack, free_port
from services.core.simulation import MarketSimulator, RecordMix
from services.dashboard import updates
from services.kafka_io import make_consumer, make_producer

CANDLES_ONLY = RecordMix(order_book=0.0, news=0.0, market_data=0.0, economic=0.0, news_shock=0.0)


ROLLUP = "1m,5m,1h,1d"


# The processor benchmarks' symbols. Keyed by symbol onto the 6 price partitions, 50 symbols give
# two consumers near-equal shares; the 5 configured ones land 2-1-1-1 on four partitions, so one of
# two instances would get 60% of the work and "two instances" would measure the keys, not the code.
STREAM_SYMBOLS = tuple(f"SYM{i:02d}" for i in range(50))


def candles(stack: BenchStack, count: int, seed: int = 1, symbols: tuple[str, ...] | None = None) -> list[dict]:
    """`count` candles, 1 s apart per symbol, 90 days ago (of the configured symbols by default)."""
    start = math.floor(time.time()) - 90 * 86_400
    sim = MarketSimulator(symbols or stack.settings.symbols, seed, start, 1.0, CANDLES_ONLY)
    return [tick[0] for tick in sim.stream(count)]


def produce(stack: BenchStack, records: list[dict]) -> float:
    """Publish like ingest does (idempotent, acks=all, key = symbol); returns records/s."""
    producer = make_producer(stack.settings.kafka_bootstrap)
    topic = stack.settings.topics.prices
    payloads = [(r["stock_symbol"].encode(), orjson.dumps(r)) for r in records]
    started = time.perf_counter()
    for key, value in payloads:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=300)
    elapsed = time.perf_counter() - started
    producer.close(timeout=10)
    return len(records) / elapsed


def copy_csv(rows: list[tuple]) -> io.StringIO:
    """Rows as CSV for `COPY ... (FORMAT csv)` (the csv module writes floats with repr(): exact)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    buf.seek(0)
    return buf


def _price_consumer(stack: BenchStack):  # type: ignore[no-untyped-def]
    consumer = make_consumer(stack.settings.kafka_bootstrap, None)
    topic = stack.settings.topics.prices
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    return consumer


def raw_consume_rate(stack: BenchStack, total: int) -> float:
    consumer = _price_consumer(stack)
    seen, started = 0, time.perf_counter()
    while seen < total:
        for records in consumer.poll(timeout_ms=500, max_records=5_000).values():
            for record in records:
                orjson.loads(record.value)
            seen += len(records)
    elapsed = time.perf_counter() - started
    consumer.close()
    return total / elapsed


def naive_loop_rate(stack: BenchStack, total: int) -> float:
    """Consume → decode → COPY into staging → INSERT … ON CONFLICT → commit, one poll at a time."""
    consumer = _price_consumer(stack)
    conn = psycopg2.connect(stack.settings.database_url)
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE stage (symbol text, ts float8, open float8, high float8, low float8, "
                    "close float8, volume bigint) ON COMMIT DELETE ROWS")
    seen, started = 0, time.perf_counter()
    while seen < total:
        for records in consumer.poll(timeout_ms=500, max_records=5_000).values():
            rows = []
            for record in records:
                r = orjson.loads(record.value)
                rows.append((r["stock_symbol"], r["timestamp"], r["opening_price"], r["high"], r["low"],
                             r["closing_price"], r["volume"]))
            with conn.cursor() as cur:
                cur.copy_expert("COPY stage FROM STDIN (FORMAT csv)", copy_csv(rows))
                cur.execute("INSERT INTO bars (symbol, ts, open, high, low, close, volume) SELECT symbol, "
                            "to_timestamp(ts), open, high, low, close, volume FROM stage ON CONFLICT DO NOTHING")
            conn.commit()
            seen += len(records)
    elapsed = time.perf_counter() - started
    conn.close()
    consumer.close()
    return total / elapsed


def processor_rate(stack: BenchStack, total: int, instances: int = 1, timeframes: str = "") -> ProcessorRun:
    """Sustained base bars/s of the real processor, its RSS, and where the machine's CPU went.
    Several instances share the partitions as one consumer group; `timeframes` rolls up too."""
    # Ready means partitions assigned: once the last instance is ready, the group has rebalanced.
    ports = [free_port() for _ in range(instances)]
    procs = [stack.spawn("processor", "--metrics-port", str(port), health=f"http://127.0.0.1:{port}/readyz",
                         timeframes=timeframes) for port in ports]
    try:
        run = measure_committed(procs, stack.settings.database_url, stack.settings.processor_group, total)
    finally:
        stack.stop_all()
    stored = stack.count()
    assert stored == total, f"the processor stored {stored:,} base bars of {total:,}"
    return run


def run_processor(report: Report, stack: BenchStack, total: int = 500_000) -> None:
    stack.fresh_namespace()
    produced = produce(stack, candles(stack, total, symbols=STREAM_SYMBOLS))
    report.add(Measurement("processor", "pre-fill: kafka-python producer (acks=all)", produced, "records/s",
                           f"{total:,} candles of {len(STREAM_SYMBOLS)} symbols, idempotent, linger 5 ms"))
    raw = raw_consume_rate(stack, total)
    report.add(Measurement("processor", "baseline: raw consume (poll + orjson)", raw, "msg/s",
                           "kafka-python + crc32c, 6 partitions"))
    naive = naive_loop_rate(stack, total)
    report.add(Measurement("processor", "baseline: naive serial consume → COPY-upsert", naive, "bars/s",
                           "no validation, no indicators, commit per poll"))
    stack.truncate()
    one = processor_rate(stack, total)
    report.add(Measurement("processor", "tickflow processor (validate, indicators, signals)", one.rate, "bars/s",
                           f"sustained over {one.seconds:.1f} s; exactly-once batches", one.rate / naive,
                           "of the naive loop"))
    report.add(Measurement("processor", "tickflow processor vs raw consume", one.rate / raw * 100, "%",
                           "share of the rate at which kafka-python can merely read the topic"))
    for name, micros in one.cpu_us_per_bar.items():
        report.add(Measurement("processor", f"CPU per stored bar: {name}", micros, "µs",
                               f"user + system time over the sustained part; {os.cpu_count()} cores = "
                               f"{os.cpu_count() * 1e6 / one.rate:.1f} µs of machine per bar at this rate"))
    report.add(Measurement("processor", "processor RSS at 10% → 100% of the stream", one.rss_end - one.rss_start,
                           "MB", f"{one.rss_start:.0f} MB → {one.rss_end:.0f} MB"))
    peer.run_peer(report, stack, total, one)  # the same topic; compared with the processor's stored outputs
    stack.truncate()
    rolled = processor_rate(stack, total, timeframes=ROLLUP)
    report.add(Measurement("processor", f"tickflow processor, rolling up to {ROLLUP}", rolled.rate, "bars/s",
                           f"base bars/s, sustained over {rolled.seconds:.1f} s; each base bar also updates 4 "
                           "forming candles, closed candles get indicators and signals", rolled.rate / one.rate,
                           "of the processor without roll-up"))
    # CPU time per bar is far steadier than wall-clock rates on a shared 2-core machine; the
    # processor's own is the roll-up's cost (PostgreSQL and Kafka CPU also count whatever else runs).
    cpu_off, cpu_on = one.cpu_us_per_bar["processor"], rolled.cpu_us_per_bar["processor"]
    report.add(Measurement("processor", f"processor CPU per base bar, rolling up to {ROLLUP}", cpu_on, "µs",
                           f"{cpu_off:.1f} µs without roll-up in the same run: roll-up costs "
                           f"{(cpu_on / cpu_off - 1) * 100:+.1f}% of the processor's CPU; with / without: "
                           + ", ".join(f"{k} {v:.1f} / {one.cpu_us_per_bar[k]:.1f}"
                                       for k, v in rolled.cpu_us_per_bar.items()), cpu_off / cpu_on,
                           "base bars per processor CPU-second, relative to no roll-up"))
    stack.truncate()
    two = processor_rate(stack, total, instances=2)
    report.add(Measurement("processor", "tickflow processor, 2 instances (one consumer group)", two.rate, "bars/s",
                           f"sustained over {two.seconds:.1f} s after the group rebalanced; CPU µs/bar: "
                           + ", ".join(f"{k} {v:.1f}" for k, v in two.cpu_us_per_bar.items()),
                           two.rate / naive, "of the naive loop"))
    # The most any overlap could give: the machine's cores over what a bar costs in CPU everywhere.
    cores = os.cpu_count() or 1
    ceiling = cores * 1e6 / sum(two.cpu_us_per_bar.values())
    report.add(Measurement("processor", "2 instances: share of the CPU ceiling", two.rate / ceiling * 100, "%",
                           f"ceiling {ceiling:,.0f} bars/s = {cores} cores ÷ "
                           f"{sum(two.cpu_us_per_bar.values()):.1f} µs of processor + PostgreSQL + Kafka CPU per bar",
                           two.rate / one.rate, "of one instance"))


def _valid_batch(stack: BenchStack, size: int, seed: int) -> list[dict]:
    start = math.floor(time.time()) - 3_600
    return [tick[0] for tick in MarketSimulator(stack.settings.symbols, seed, start, 0.001, CANDLES_ONLY)
            .stream(size)]


def _post_for(url: str, bodies: list[bytes], threads: int) -> tuple[int, float]:
    """POST every body (each a JSON array) from `threads` clients; returns (records, seconds)."""
    local = threading.local()

    def post(body: bytes) -> int:
        client = getattr(local, "client", None) or httpx.Client(timeout=30)
        local.client = client
        resp = client.post(url, content=body, headers={"content-type": "application/json"})
        resp.raise_for_status()
        return resp.json()["accepted"]

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        accepted = sum(pool.map(post, bodies))
    return accepted, time.perf_counter() - started


def run_ingest(report: Report, stack: BenchStack, batched_records: int = 200_000, single_records: int = 5_000) -> None:
    stack.fresh_namespace()
    raw = produce(stack, _valid_batch(stack, batched_records, seed=2))
    report.add(Measurement("ingest", "baseline: raw kafka-python producer", raw, "records/s", "acks=all, idempotent"))

    port = free_port()
    stack.spawn("ingest", "--port", str(port), "--workers", "2", "--ops-port", "0",
                health=f"http://127.0.0.1:{port}/readyz",
                symbol_pattern=".*")  # the replay's symbols are not the configured ones
    url = f"http://127.0.0.1:{port}/ingest"
    records = _valid_batch(stack, batched_records, seed=3)
    bodies = [orjson.dumps(records[i:i + 500]) for i in range(0, len(records), 500)]
    accepted, seconds = _post_for(url, bodies, threads=4)
    assert accepted == len(records), f"ingest accepted {accepted} of {len(records)}"
    posted = accepted / seconds
    report.add(Measurement("ingest", "POST /ingest, batches of 500 (2 workers, 4 clients)", posted,
                           "records/s", "validated, acknowledged by Kafka", posted / raw, "of the raw producer rate"))
    singles = [orjson.dumps(r) for r in _valid_batch(stack, single_records, seed=4)]
    accepted, seconds = _post_for(url, singles, threads=8)
    report.add(Measurement("ingest", "POST /ingest, single records (8 clients)", accepted / seconds, "records/s",
                           "one request per record", accepted / seconds / raw, "of the raw producer rate"))
    summary = replay_file(stack, f"http://127.0.0.1:{port}")
    report.add(Measurement("ingest", "replay of an OHLCV file (python -m services.replay)", summary["records_per_s"],
                           "records/s", f"{summary['rows']:,} hourly EURUSD bars under 40 symbols, batches of 1,000, "
                           "one sender", summary["records_per_s"] / posted, "of POST /ingest batched (same run)"))
    stack.stop_all()


def replay_file(stack: BenchStack, ingest_url: str, symbols: int = 40) -> dict:
    """`python -m services.replay` of the shipped EURUSD history, once per symbol, in one CSV; its summary."""
    from bench.datasets import shipped

    history = pd.read_csv(shipped("EURUSD"), index_col=0)
    path = stack.log_dir / "replay.csv"
    pd.concat([history.assign(symbol=f"FX{i:02d}") for i in range(symbols)]).to_csv(path, index_label="Date")
    done = subprocess.run([sys.executable, "-m", "services.replay", str(path), "--json", "--progress", "never",
                           "--ingest-url", ingest_url, "--batch", "1000"], cwd=ROOT, env=stack.env(),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    summary = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert summary["accepted"] == len(history) * symbols, summary
    return summary


def _paced_sender(host: str, port: int, symbol: str, per_second: int, seconds: float, batch: int,
                  stop: threading.Event, sent: list[int], posts: list[float]) -> None:
    """Send `per_second` candles of one symbol in batches, each stamped with its send time; `posts`
    gets each POST's round trip (ingest answers once Kafka has the records: ingest's share).

    The standard library's client on one kept-alive connection: the senders share the two cores
    with what they measure, and with httpx they took a fifth of a core at 5,000 bars/s."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"content-type": "application/json"}
    price, last_ts, n = 100.0, 0.0, 0
    started = time.monotonic()
    total = int(per_second * seconds)
    while n < total and not stop.is_set():
        due = started + n / per_second
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        now = time.time()
        records = []
        for _ in range(min(batch, total - n)):
            last_ts = max(round(now, 6), round(last_ts + 1e-6, 6))
            records.append({"stock_symbol": symbol, "opening_price": price, "closing_price": price,
                            "high": price, "low": price, "volume": 1, "timestamp": last_ts})
        conn.request("POST", "/ingest", orjson.dumps(records), headers)
        resp = conn.getresponse()
        body = resp.read()
        posts.append(time.time() - now)
        if resp.status >= 300:
            raise RuntimeError(f"POST /ingest answered {resp.status}: {body[:300]!r}")
        n += len(records)
    sent.append(n)
    conn.close()


def _watch_commits(dsn: str, count: int, deadline: float) -> list[float]:
    """Each bar's delay: (when its commit was announced) − (its candle timestamp, stamped at send).

    The processor's batch transaction sends NOTIFY tickflow_feed (sql/0020), which PostgreSQL
    delivers at commit; the bars come from the dashboard_feed rows after the last one read. Waiting on the
    notification instead of polling keeps the observer from eating the CPU it is measuring.
    """
    conn = psycopg2.connect(dsn, application_name="tickflow-bench-latency")
    conn.autocommit = True
    delays: list[float] = []
    try:
        with conn.cursor() as cur:
            cur.execute(f"LISTEN {updates.CHANNEL}")
            last = updates.head_id(cur)
            while len(delays) < count and time.monotonic() < deadline:
                if not conn.notifies and select.select([conn], [], [], 1.0) == ([], [], []):
                    continue
                conn.poll()
                now = time.time()
                conn.notifies.clear()
                cur.execute("SELECT max(last_id) OVER (), extract(epoch FROM e.ts)::float8 FROM dashboard_feed f, "
                            "unnest(f.ts) AS e(ts) WHERE f.last_id > %s AND f.kind = 'bar'", (last,))
                rows = cur.fetchall()
                if rows:
                    last = rows[0][0]
                    delays.extend(now - ts for _, ts in rows)
    finally:
        conn.close()
    return delays


def run_latency(report: Report, stack: BenchStack, rate: int = 5_000, seconds: float = 30.0) -> None:
    """Send → visible latency: one sender thread per symbol stamps each candle when it sends it."""
    stack.fresh_namespace()
    ingest_port, metrics_port = free_port(), free_port()
    stack.spawn("ingest", "--port", str(ingest_port), "--workers", "2", "--ops-port", "0",
                health=f"http://127.0.0.1:{ingest_port}/readyz")
    processor = stack.spawn("processor", "--metrics-port", str(metrics_port),
                            health=f"http://127.0.0.1:{metrics_port}/readyz")
    symbols = stack.settings.symbols
    count, batch = int(rate * seconds), 25
    stop, sent, posts = threading.Event(), [], []
    senders = [threading.Thread(target=_paced_sender, args=("127.0.0.1", ingest_port, symbol, rate // len(symbols),
                                                             seconds, batch, stop, sent, posts))
               for symbol in symbols]
    rss_start = rss_mb(processor.pid)
    for thread in senders:
        thread.start()
    delays = _watch_commits(stack.settings.database_url, count, deadline=time.monotonic() + seconds + 60)
    stop.set()
    for thread in senders:
        thread.join(30)
    rss_end = rss_mb(processor.pid)
    stack.stop_all()
    assert sum(sent) == count == len(delays), f"sent {sum(sent)}, expected {count}, saw {len(delays)}"
    delays.sort()
    posts.sort()

    def p(values: list[float], q: float) -> float:  # the q-quantile of sorted seconds, in ms
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    note = f"{len(delays):,} bars at {rate:,}/s for {seconds:.0f} s; {len(symbols)} senders, {batch} per POST"
    for label, value in (("p50", p(delays, 0.50)), ("p99", p(delays, 0.99)), ("max", delays[-1] * 1000),
                         ("mean", statistics.fmean(delays) * 1000)):
        report.add(Measurement("latency", f"sent → bar row visible in PostgreSQL, {label}", value, "ms", note))
    # Where the time goes: ingest answers a POST once Kafka holds its records, so a POST's round trip
    # is ingest's share (with the sender's own HTTP client) and the rest is Kafka → processor → commit.
    for q, label in ((0.50, "p50"), (0.99, "p99")):
        report.add(Measurement("latency", f"of which POST /ingest round trip (ingest + Kafka ack), {label}",
                               p(posts, q), "ms", f"{len(posts):,} POSTs", p(posts, q) / p(delays, q),
                               f"of the {label} above"))
    report.add(Measurement("latency", "processor RSS during the run", rss_end - rss_start, "MB",
                           f"{rss_start:.0f} MB → {rss_end:.0f} MB over {seconds:.0f} s"))
