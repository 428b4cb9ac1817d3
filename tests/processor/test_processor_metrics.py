"""The processor's /metrics (services/processor/metrics.py) on the real Kafka and PostgreSQL: its
counters, the per-batch histograms and the consumer lag per partition."""
from __future__ import annotations

from pathlib import Path

from running_services import start_processor
from sqlalchemy import Engine
from streams import end_offsets, produce, simulated_records, stored_offsets, wait_processed
from support import scrape_metrics, service_env, wait_until

from services.config import Settings
from services.orchestration.checks.deployment import kafka_lag

CANDLES = 1_200


def test_metrics_count_batches_bars_and_lag(stack: Settings, owner_db: Engine, tmp_path: Path) -> None:
    produce(stack, simulated_records(stack, CANDLES, seed=5))
    proc, port = start_processor(service_env(stack, processor_session_timeout_ms=6000, timeframes="",
                                                   processor_batch_max=100), tmp_path)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_processed(owner_db, stack, timeout=120)
        price_partitions = {p for (t, p), end in end_offsets(stack).items() if t == stack.topics.prices and end}
        lag_key = 'tickflow_processor_consumer_lag{{partition="{}",topic="%s"}}' % stack.topics.prices

        def lag_settled() -> dict[str, float] | None:
            m = scrape_metrics(url)
            return m if all(m.get(lag_key.format(p)) == 0 for p in price_partitions) else None

        m = wait_until(lag_settled, timeout=30, what="the lag gauges to reach 0")
        # Lag tools read the group's Kafka-side offsets: told at most once a second, and once idle,
        # so they end where PostgreSQL's end.
        stored = stored_offsets(owner_db, stack.processor_group)
        wait_until(lambda: kafka_committed(stack) == stored, timeout=15,
                   what=f"the group's Kafka-side offsets to reach the stored ones {stored}")
    finally:
        assert proc.stop() == 0, proc.log_tail()
    batches = m["tickflow_processor_batches_total"]
    assert m["tickflow_processor_bars_total"] == CANDLES and m["tickflow_processor_messages_total"] == CANDLES
    assert batches >= 1
    assert m["tickflow_processor_batch_messages_count"] == batches
    assert m["tickflow_processor_batch_messages_sum"] == CANDLES
    assert m["tickflow_processor_commit_seconds_count"] == batches and m["tickflow_processor_commit_seconds_sum"] > 0
    # Every batch here holds base bars (candles only), each observed once; they are 30 days old.
    assert m["tickflow_processor_end_to_end_delay_seconds_count"] == batches
    assert m['tickflow_processor_end_to_end_delay_seconds_bucket{le="3600.0"}'] == 0
    assert m["tickflow_processor_end_to_end_delay_seconds_sum"] > 29 * 86_400 * batches
    assert len(price_partitions) >= 2



def kafka_committed(stack: Settings) -> dict[tuple[str, int], int]:
    """The group's Kafka-side offsets, read as the deployment check's lag reads them."""
    lags = kafka_lag(stack.kafka_bootstrap, stack.processor_group, [stack.topics.prices])
    return {tp: lag["committed"] for tp, lag in lags.items() if lag["committed"] is not None}
