"""No record can stop the processor: poison is refused at ingest, dead-lettered by the processor when
it arrives another way, and every good record of the same batch is stored (real Kafka and PostgreSQL).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from namespaces import namespaced, own_topics
from running_services import start_processor
from sqlalchemy import Engine, text
from streams import COMPARED, SPARSE_SIDE_RECORDS, produce, simulated_records, snapshot, wait_processed
from support import TcpProxy, service_env, wait_until

from services.config import Settings
from services.ingest.app import create_app

NOW = time.time()

# Each was answered 200 by ingest once, and then stopped the processor on every restart.
POISON = {
    "NUL in text": ("indicator_name", {"data_type": "economic_indicator", "indicator_name": "GDP\u0000x",
                                       "value": 1.5, "timestamp": NOW - 30}),
    "quantity beyond bigint": ("quantity", {"data_type": "order_book", "stock_symbol": "AAPL", "order_type": "buy",
                                            "price": 10.0, "quantity": 9223372036854775808, "timestamp": NOW - 30}),
    "volume beyond bigint": ("volume", {"stock_symbol": "MSFT", "opening_price": 10.0, "closing_price": 10.0,
                                        "high": 10.0, "low": 10.0, "volume": 9223372036854775808,
                                        "timestamp": NOW - 30}),
    "close whose square overflows": ("closing_price", {"stock_symbol": "TSLA", "opening_price": 1e308,
                                                       "closing_price": 1e308, "high": 1e308, "low": 1e308,
                                                       "volume": 1, "timestamp": NOW - 30}),
}
# Without what records with wall-clock or Kafka positions hold: the poison shifts later offsets.
SAME_OUTPUT = [t for t in COMPARED if t not in ("dead_letters", "late_bars")]


def run_processor(stack: Settings, db: Engine, log_dir: Path) -> str:
    """Start a processor, let it consume everything produced so far, stop it; return its log."""
    proc, port = start_processor(service_env(stack, processor_session_timeout_ms=6000), log_dir)
    proc.wait_http(f"http://127.0.0.1:{port}/healthz")
    wait_processed(db, stack, timeout=120)
    assert proc.proc.poll() is None, proc.log_tail()
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert proc.stop() == 0, proc.log_tail()
    return proc.log_path.read_text() + metrics


@pytest.fixture
def reference(stack: Settings, owner_db: Engine, tmp_path: Path) -> Iterator:
    """Runs the same good records on a namespace of their own and returns the tables they give."""
    with own_topics(namespaced(stack)) as other:

        def tables_of(records: list[dict]) -> dict:
            with owner_db.begin() as conn:
                saved = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in SAME_OUTPUT}
            assert not any(saved.values()), "take the reference before the run under test"
            produce(other, records)
            run_processor(other, owner_db, tmp_path)
            result = snapshot(owner_db)
            with owner_db.begin() as conn:
                conn.execute(text(f"TRUNCATE {', '.join(SAME_OUTPUT)}, processor_offsets"))
            return {t: result[t] for t in SAME_OUTPUT}

        yield tables_of


def produce_with_poison(stack: Settings, good: list[dict], poison: list[dict]) -> None:
    """The good records with the poison spread among them, straight to Kafka (bypassing ingest)."""
    step = len(good) // (len(poison) + 1)
    mixed: list[dict] = []
    for i, record in enumerate(poison):
        mixed += good[i * step:(i + 1) * step] + [record]
    produce(stack, mixed + good[len(poison) * step:])


@pytest.mark.parametrize("name", list(POISON))
def test_each_poison_record_is_a_422_at_ingest_naming_the_field(stack: Settings, name: str) -> None:
    field, record = POISON[name]
    good = {"stock_symbol": "AAPL", "opening_price": 10.0, "closing_price": 10.5, "high": 11.0, "low": 9.5,
            "volume": 10, "timestamp": NOW - 10}
    with TestClient(create_app(stack)) as client:
        alone = client.post("/ingest", json=record)
        assert alone.status_code == 422, alone.text
        assert field in {e["field"] for e in alone.json()["results"][0]["errors"]}
        mixed = client.post("/ingest", json=[good, record])
        assert mixed.status_code == 200 and mixed.json()["accepted"] == 1 and mixed.json()["rejected"] == 1


def test_poison_on_the_topics_is_dead_lettered_and_the_rest_stored_as_without_it(
    stack: Settings, owner_db: Engine, tmp_path: Path, reference
) -> None:
    good = simulated_records(stack, 3_000, seed=21, mix=SPARSE_SIDE_RECORDS)
    want = reference(good)
    produce_with_poison(stack, good, [record for _, record in POISON.values()])
    run_processor(stack, owner_db, tmp_path)
    got = snapshot(owner_db)
    assert {t: got[t] for t in SAME_OUTPUT} == want
    reasons = [reason for *_, reason in got["dead_letters"]]
    assert len(reasons) == 4
    for field, _ in POISON.values():
        assert sum(field in reason for reason in reasons) >= 1, (field, reasons)


@pytest.fixture
def refused_price(owner_db: Engine) -> Iterator[float]:
    """PostgreSQL refuses order_book rows at this price with a data error (a trigger installed for the
    test), standing in for any value the database cannot hold that validation did not foresee."""
    price = 4242.4242
    with owner_db.begin() as conn:
        conn.execute(text(f"""
            CREATE OR REPLACE FUNCTION test_refuse_price() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.price = {price} THEN
                    RAISE EXCEPTION 'value % out of range for this test', NEW.price USING ERRCODE = '22003';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_refuse_price BEFORE INSERT ON order_book
                FOR EACH ROW EXECUTE FUNCTION test_refuse_price();"""))
    yield price
    with owner_db.begin() as conn:
        conn.execute(text("DROP TRIGGER test_refuse_price ON order_book; DROP FUNCTION test_refuse_price()"))


def test_a_record_postgresql_refuses_is_isolated_and_the_batch_stored(
    stack: Settings, owner_db: Engine, tmp_path: Path, reference, refused_price: float
) -> None:
    good = simulated_records(stack, 3_000, seed=22, mix=SPARSE_SIDE_RECORDS)
    want = reference(good)
    refused = {"data_type": "order_book", "stock_symbol": "AMZN", "order_type": "sell", "price": refused_price,
               "quantity": 5, "timestamp": good[0]["timestamp"] + 0.5}
    produce_with_poison(stack, good, [refused])
    log = run_processor(stack, owner_db, tmp_path)
    got = snapshot(owner_db)
    assert {t: got[t] for t in SAME_OUTPUT} == want
    ((topic, _, _, reason),) = got["dead_letters"]
    assert topic == stack.topics.by_record_type["order_book"]
    assert reason.startswith("not storable: NumericValueOutOfRange") and "out of range for this test" in reason
    assert "isolating the offending records" in log and "tickflow_processor_dead_letters_total 1.0" in log


def test_a_saved_state_that_cannot_be_restored_is_rebuilt_from_the_stored_bars(
    stack: Settings, owner_db: Engine, tmp_path: Path, reference
) -> None:
    records = simulated_records(stack, 2_000, seed=23)
    want = reference(records)
    produce(stack, records[:1_000])
    run_processor(stack, owner_db, tmp_path)
    with owner_db.begin() as conn:  # what an infinite Bollinger sum once left behind
        broken = conn.execute(text(
            "UPDATE symbol_state SET state = jsonb_set(state, '{engine}', '{\"version\": 1}') "
            "WHERE symbol IN ('AAPL', 'TSLA')")).rowcount
    assert broken == 2
    produce(stack, records[1_000:])
    log = run_processor(stack, owner_db, tmp_path)
    got = snapshot(owner_db)
    assert {t: got[t] for t in SAME_OUTPUT} == want
    assert log.count("saved symbol state could not be restored; rebuilt it from the stored bars") == 2
    assert "tickflow_processor_state_rebuilds_total 2.0" in log


def test_a_processor_started_while_kafka_is_unreachable_waits_unready_then_proceeds(
    stack: Settings, owner_db: Engine, tmp_path: Path
) -> None:
    host, port = stack.kafka_bootstrap.split(",")[0].rsplit(":", 1)
    gate = TcpProxy((host, int(port)), listening=False)  # Kafka "down" until opened
    env = service_env(stack, kafka_bootstrap=f"127.0.0.1:{gate.port}", processor_session_timeout_ms=6000,
                      processor_bootstrap_timeout_ms=2000)  # two failed attempts in seconds, not 20 s
    proc, metrics_port = start_processor(env, tmp_path)
    try:
        proc.wait_http(f"http://127.0.0.1:{metrics_port}/healthz")
        wait_until(lambda: proc.log_path.read_text().count("Kafka unreachable; retrying") >= 2, timeout=90,
                   what="two failed connection attempts")
        assert proc.proc.poll() is None, proc.log_tail()
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/readyz", timeout=5).status_code == 503
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5).status_code == 200
        gate.open()
        produce(stack, simulated_records(stack, 500, seed=24))
        wait_processed(owner_db, stack, timeout=120)
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/readyz", timeout=5).status_code == 200
        assert proc.stop() == 0, proc.log_tail()
    finally:
        gate.close()
    with owner_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM bars WHERE timeframe = 'raw'")).scalar_one() == 500
