"""bench.pipeline.run_latency on a short, slow stream (real ingest, Kafka, processor, PostgreSQL): every
bar sent is seen committed once, and the figures include ingest's share of the delay."""
from __future__ import annotations

from bench.pipeline import run_latency
from bench.report import Report
from bench.stack import BenchStack

RATE, SECONDS = 250, 2.0  # 500 bars: 20 POSTs of 25 (5 senders, one per symbol)


def test_latency_figures_and_ingests_share(stack: BenchStack) -> None:
    report = Report()
    run_latency(report, stack, rate=RATE, seconds=SECONDS)  # asserts every bar sent was seen once
    by_name = {m.name: m for m in report.measurements}
    p50, p99, worst = (by_name[f"sent → bar row visible in PostgreSQL, {q}"].value for q in ("p50", "p99", "max"))
    assert 0 < p50 <= p99 <= worst < 10_000
    post50 = by_name["of which POST /ingest round trip (ingest + Kafka ack), p50"]
    post99 = by_name["of which POST /ingest round trip (ingest + Kafka ack), p99"]
    assert post50.note == "20 POSTs" and 0 < post50.value <= post99.value
    assert post50.ratio == post50.value / p50 and post99.ratio == post99.value / p99
