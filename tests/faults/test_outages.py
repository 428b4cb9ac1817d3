"""Outages and hostile input on the real services: PostgreSQL down, Kafka down, poison, SIGTERM."""
from __future__ import annotations

import math
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import TopicPartition
from running_services import ingest_and_processor, start_processor
from sqlalchemy import Engine, text
from streams import (
    CANDLES_ONLY,
    SPARSE_SIDE_RECORDS,
    base_bars,
    count_bars,
    produce,
    simulated_records,
    snapshot,
    truncate_outputs,
    wait_processed,
)
from support import ROOT, ServiceProcess, free_port, scrape_metrics, service_env, wait_until

from services.config import Settings
from services.core.simulation import is_candle
from services.kafka_io import make_admin, make_consumer, make_producer

pytestmark = [pytest.mark.fault, pytest.mark.timeout(900)]
LOCAL_SERVICES = str(ROOT / "scripts" / "local-services.sh")
OUTAGE_S = 10.0  # how long a dependency stays down: the scenario, not a synchronisation


def local_services(*args: str) -> None:
    done = subprocess.run([LOCAL_SERVICES, *args], capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, f"local-services.sh {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def metric(port: int, name: str) -> float:
    return scrape_metrics(f"http://127.0.0.1:{port}/metrics")[name]


def processor(stack: Settings, log_dir: Path, group: str | None = None,
              **settings: object) -> tuple[ServiceProcess, int]:
    env = service_env(stack, processor_group=group or stack.processor_group, processor_session_timeout_ms=6000,
                      **settings)
    proc, port = start_processor(env, log_dir)
    proc.wait_http(f"http://127.0.0.1:{port}/healthz")
    return proc, port


def undisturbed_run(stack: Settings, owner_db: Engine, log_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The tables a fresh processor (its own group) stores from the same topics, from empty tables."""
    truncate_outputs(owner_db)
    reference, _ = processor(stack, log_dir, group=f"{stack.processor_group}-reference")
    wait_processed(owner_db, stack, group=f"{stack.processor_group}-reference", timeout=120)
    assert reference.stop() == 0
    return snapshot(owner_db)


def test_postgres_outage_mid_stream_recovers_to_identical_tables(
    stack: Settings, owner_db: Engine, tmp_path: Path
) -> None:
    records = simulated_records(stack, 40_000, seed=99, mix=SPARSE_SIDE_RECORDS)
    feeder = threading.Thread(  # the stream keeps arriving during the outage
        target=lambda: [produce(stack, records[i:i + 2_000]) for i in range(0, len(records), 2_000)])
    # a stall window shorter than the outage: the watchdog must still not count the outage as a stall
    proc, port = processor(stack, tmp_path, processor_stall_timeout_s=OUTAGE_S / 2)
    feeder.start()
    wait_until(lambda: count_bars(owner_db) >= 5_000, timeout=60, what="5,000 bars before the outage")

    local_services("stop", "postgres")
    down_at = time.monotonic()
    try:
        wait_until(lambda: metric(port, "tickflow_processor_write_failures_total") >= 1, timeout=30,
                   what="the processor to notice the outage")
        assert proc.proc.poll() is None, "the processor must survive the outage"
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
    finally:
        local_services("start", "postgres")
    feeder.join(timeout=120)
    up_at = time.monotonic()
    wait_processed(owner_db, stack, timeout=120)
    recovery_s = time.monotonic() - up_at
    # A database outage is not a Kafka stall: the watchdog must not replace the consumer after it.
    assert metric(port, "tickflow_processor_reconnects_total") == 0
    assert proc.proc.poll() is None and proc.stop() == 0, proc.log_tail()
    disturbed = snapshot(owner_db)
    assert base_bars(disturbed) == 40_000
    assert disturbed == undisturbed_run(stack, owner_db, tmp_path)
    print(f"postgres outage: down {OUTAGE_S:.0f} s, caught up {recovery_s:.1f} s after restart")


def test_a_running_processor_rides_out_kafka_outages_at_any_moment(
    stack: Settings, owner_db: Engine, tmp_path: Path
) -> None:
    """The broker stops under one running processor three times: while it commits a stream, while it
    rejoins after the first outage, and while it idles at the end of its partitions. The same process
    carries on each time, and the tables equal an undisturbed run's."""
    records = simulated_records(stack, 20_000, seed=21, mix=SPARSE_SIDE_RECORDS)
    half = len(records) // 2
    first_half_bars = sum(1 for r in records[:half] if is_candle(r))
    produce(stack, records[:half])
    proc, port = processor(stack, tmp_path, processor_batch_max=25)  # small batches: the stream lasts

    def outage(moment: str) -> int:
        local_services("stop", "kafka")
        stored_when_down = count_bars(owner_db)
        try:
            wait_until(lambda: metric(port, "tickflow_processor_kafka_unreachable") == 1, timeout=60,
                       what=f"the processor to notice the outage ({moment})")
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 503
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
            time.sleep(OUTAGE_S / 3)  # the outage lasts (past the 6 s session): the scenario, not a synchronisation
        finally:
            local_services("start", "kafka")
        assert proc.proc.poll() is None, f"the processor died in the outage ({moment}):\n{proc.log_tail()}"
        return stored_when_down

    wait_until(lambda: count_bars(owner_db) >= 1_000, timeout=60, what="the processor to be committing")
    assert outage("committing") < first_half_bars, "the outage must hit the processor mid-stream"
    back = proc.log_path.read_text().count("Kafka reachable again")
    wait_until(lambda: proc.log_path.read_text().count("Kafka reachable again") > back, timeout=120,
               what="the processor to reach Kafka again")
    outage("rejoining")  # its group session expired in the outage: it is rejoining now
    wait_processed(owner_db, stack, timeout=180)
    outage("idle")
    produce(stack, records[half:])
    wait_processed(owner_db, stack, timeout=180)
    assert proc.proc.poll() is None and proc.stop() == 0, proc.log_tail()
    assert log_count(proc, "processor started") == 1, "one process, started once"
    disturbed = snapshot(owner_db)
    assert base_bars(disturbed) == 20_000
    assert disturbed == undisturbed_run(stack, owner_db, tmp_path)


def log_count(proc: ServiceProcess, message: str) -> int:
    """How many times a service logged `message` (its JSON log lines)."""
    return sum(1 for line in proc.log_path.read_text().splitlines() if f'"{message}"' in line)


def generator_summary(generator: ServiceProcess) -> dict:
    """The JSON summary the generator prints on exit."""
    for line in reversed(generator.log_path.read_text().splitlines()):
        if line.startswith('{"summary"'):
            return orjson.loads(line)["summary"]
    raise AssertionError(f"no summary in the generator's output:\n{generator.log_tail()}")


def test_kafka_outage_ingest_refuses_and_nothing_is_lost_or_doubled(
    stack: Settings, owner_db: Engine, tmp_path: Path
) -> None:
    """The generator runs unbounded until the test stops it, so the outage always hits it mid-stream,
    however fast or slow the machine is (a --count run could finish before Kafka went down)."""
    generator_port = free_port()
    with ingest_and_processor(stack, tmp_path, processor_settings={"processor_session_timeout_ms": 6000}) as pipeline:
        ingest_port, env = pipeline.ingest_port, pipeline.env
        interval, start = 1.0, math.floor(time.time()) - 86_400
        generator = ServiceProcess("generator", [
            "--rate", "500", "--seed", "3", "--start", str(start), "--interval", str(interval),
            "--batch", "200", "--port", str(generator_port), "--ingest-url", f"http://127.0.0.1:{ingest_port}",
            "--progress", "never"], env, tmp_path)
        generator.wait_http(f"http://127.0.0.1:{generator_port}/healthz")
        wait_until(lambda: count_bars(owner_db) >= 3_000, timeout=120, what="3,000 bars before the outage")

        local_services("stop", "kafka")
        try:
            probe = httpx.post(f"http://127.0.0.1:{ingest_port}/ingest", timeout=15, json={
                "stock_symbol": "AAPL", "opening_price": 1.0, "closing_price": 1.0, "high": 1.0, "low": 1.0,
                "volume": 1, "timestamp": time.time()})
            assert probe.status_code == 503 and probe.headers["retry-after"]
            assert httpx.get(f"http://127.0.0.1:{ingest_port}/readyz", timeout=5).status_code == 503
            wait_until(lambda: metric(generator_port, "tickflow_generator_retries_total") >= 1, timeout=60,
                       what="the generator to back off and retry")
            stalled_at = count_bars(owner_db)
            time.sleep(OUTAGE_S / 2)
            assert count_bars(owner_db) == stalled_at, "nothing can arrive while Kafka is down"
        finally:
            local_services("start", "kafka")
        back = time.monotonic()
        accepted_at_restart = metric(generator_port, "tickflow_generator_records_accepted_total")
        wait_until(lambda: metric(generator_port, "tickflow_generator_records_accepted_total")
                   >= accepted_at_restart + 2_000, timeout=180, what="the generator to deliver again after the outage")
        assert generator.stop(signal.SIGTERM, timeout=60) == 0, generator.log_tail()
        sent = generator_summary(generator)
        assert sent["undelivered"] == 0 and sent["rejected"] == 0 and sent["accepted"] == sent["sent"], sent

        tables = ("bars", "order_book", "news_sentiment", "market_data", "economic_indicators")

        def stored() -> int:
            with owner_db.connect() as conn:
                return sum(conn.execute(text(f"SELECT count(*) FROM {t}" + (" WHERE timeframe = 'raw'" if t == "bars"
                                                                            else ""))).scalar_one() for t in tables)

        wait_until(lambda: stored() >= sent["accepted"], timeout=120, interval=0.5,
                   what=f"all {sent['accepted']} accepted records stored")
        wait_processed(owner_db, stack, timeout=120)
        assert stored() == sent["accepted"], "every accepted record is stored exactly once"
        with owner_db.connect() as conn:
            per_symbol = conn.execute(text(
                "SELECT symbol, count(*), count(DISTINCT ts), extract(epoch FROM min(ts)), extract(epoch FROM max(ts)) "
                "FROM bars WHERE timeframe = 'raw' GROUP BY 1")).all()
        assert {s for s, *_ in per_symbol} == set(stack.symbols)
        for symbol, n, distinct, first, last in per_symbol:  # each symbol: its first n candles, none twice
            assert n == distinct and float(first) == start and float(last) == start + (n - 1) * interval, symbol
        assert sum(n for _, n, *_ in per_symbol) == sent["candles"]
        print(f"kafka outage: all {sent['candles']} candles ({sent['accepted']} records) stored once, "
              f"{time.monotonic() - back:.1f} s after restart")


def test_poison_messages_go_to_the_dead_letter_topic_and_good_ones_are_processed(
    stack: Settings, owner_db: Engine, tmp_path: Path
) -> None:
    good = simulated_records(stack, 2_000, seed=8, mix=CANDLES_ONLY)
    now = time.time()
    poison = [
        (b"AAPL", b"this is not json"),
        (b"AAPL", orjson.dumps({"stock_symbol": "AAPL"})),                          # wrong shape
        (b"MSFT", orjson.dumps({"data_type": "news_sentiment", "timestamp": now, "stock_symbol": "MSFT",
                                "sentiment_score": 0.1, "sentiment_magnitude": 0.2})),  # another type
        (b"TSLA", orjson.dumps({**good[0], "stock_symbol": "TSLA", "high": -1.0})),   # absurd
        (b"GOOGL", b'{"pad": "' + b"x" * 100_000 + b'"}'),                           # oversized
        (None, b"\xff\xfe\x00binary"),
        (b"AMZN", b"null"),
    ]
    topic = stack.topics.prices
    producer = make_producer(stack.kafka_bootstrap)
    for i, record in enumerate(good):
        producer.send(topic, key=record["stock_symbol"].encode(), value=orjson.dumps(record))
        if i % 250 == 100 and poison:
            key, value = poison.pop()
            producer.send(topic, key=key, value=value)
    producer.flush(30)
    producer.close()
    assert not poison

    proc, _ = processor(stack, tmp_path)
    wait_processed(owner_db, stack)
    assert proc.stop() == 0
    assert count_bars(owner_db) == 2_000
    with owner_db.connect() as conn:
        dead = conn.execute(text("SELECT kafka_partition, kafka_offset, reason FROM dead_letters")).all()
    assert len(dead) == 7
    reasons = " | ".join(r for _, _, r in dead)
    for fragment in ("not JSON", "opening_price: Field required", "a news_sentiment record on", "high",
                     "exceeds", "expected a JSON object"):
        assert fragment in reasons, reasons

    consumer = make_consumer(stack.kafka_bootstrap, None)
    tp = TopicPartition(stack.topics.dead_letter, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    seen: list = []
    wait_until(lambda: seen.extend(r for rs in consumer.poll(200).values() for r in rs) or len(seen) >= 7,
               timeout=20, interval=0, what="7 messages on the dead-letter topic")
    consumer.close()
    announced = {(m["partition"], m["offset"]): m for m in (orjson.loads(r.value) for r in seen)}
    assert set(announced) == {(p, o) for p, o, _ in dead}
    assert all(m["topic"] == topic and m["reason"] for m in announced.values())


def test_sigterm_finishes_cleanly_and_leaves_the_group(stack: Settings, owner_db: Engine, tmp_path: Path) -> None:
    produce(stack, simulated_records(stack, 30_000, seed=4, mix=CANDLES_ONLY))
    proc, _ = processor(stack, tmp_path)
    wait_until(lambda: count_bars(owner_db) >= 1_000, timeout=60, what="processing to start")
    sent = time.monotonic()
    assert proc.stop(signal.SIGTERM, timeout=10) == 0, proc.log_tail()
    took = time.monotonic() - sent
    assert took < 5, f"SIGTERM took {took:.1f} s"
    assert '"processor stopped"' in proc.log_path.read_text()
    admin = make_admin(stack.kafka_bootstrap)
    try:
        group = admin.describe_groups([stack.processor_group])[stack.processor_group]
    finally:
        admin.close()
    assert group["members"] == [], "the processor must leave the group, not wait for its session to expire"
