"""The processor's same-run peer: its job in Quix Streams (bench/quix_peer.py), on the same topic.

`run_peer` runs the peer on the topic the Tickflow processor has just consumed, measures it the way
the processor is measured (bench.pipeline.measure_stream: sustained rows/s, CPU per row of the
consumer, PostgreSQL and Kafka), checks that both stored the same bars, indicators and signals, and
reports the figures beside the processor's.
"""
from __future__ import annotations

import os
import uuid

from sqlalchemy import Connection, text

from bench.measure import ProcessorRun, measure_stream
from bench.quix_peer import BARS_TABLE, SIGNALS_TABLE, create_tables
from bench.report import Measurement, Report
from bench.stack import BenchStack
from services.kafka_io import make_admin
from services.processor.sinks import BarRow

# Every stored value of a bar after its key: OHLCV, base_bars and the indicators.
BAR_VALUES = BarRow._fields[BarRow._fields.index("ts") + 1:]
SIGNAL_VALUES = ("price", "value", "reference")


def run_quix(stack: BenchStack, total: int, commit_interval: float = 1.0, commit_every: int = 0,
             guarantee: str = "at-least-once") -> ProcessorRun:
    """The peer's sustained bars/s and CPU per bar on the pre-filled prices topic, into emptied peer tables.

    The peer's rows become visible only at a checkpoint, where the sink writes each partition's rows in
    a transaction of its own, one partition after the other, while nothing is consumed. So the count
    moves in steps: one cycle is the commit interval plus that write (~2.5 s at 1 s on the 2-core
    machine), and the rate is good to about one cycle: time a stream of many (500k candles: ~25).
    Quix's default interval is 5 s; 1 s makes the steps finer and is nearer the processor, whose
    batches commit within 50 ms of filling."""
    create_tables(stack.settings.admin_database_url)
    with stack.db.begin() as conn:
        conn.execute(text(f"TRUNCATE {BARS_TABLE}, {SIGNALS_TABLE}"))
    group = f"{stack.settings.processor_group}-quix-{uuid.uuid4().hex[:6]}"  # a new group reads from the start
    proc = stack.spawn("quix_peer", "--group", group, "--guarantee", guarantee,
                       "--commit-interval", str(commit_interval), "--commit-every", str(commit_every),
                       "--state-dir", str(stack.log_dir / "quix-state"), module="bench.quix_peer")

    admin = make_admin(stack.settings.kafka_bootstrap)
    topic = stack.settings.topics.prices

    def committed() -> int:
        """Records whose offsets the peer committed to Kafka, which it does after the sink's transaction:
        what is stored (a count(*) of the growing table would compete with the peer for the CPU)."""
        if proc.poll() is not None:
            raise RuntimeError(f"quix peer exited with {proc.returncode}; see its log in {stack.log_dir}")
        offsets = admin.list_group_offsets(group).get(group, {})
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)

    try:
        run = measure_stream([proc], committed, total)
    finally:
        admin.close()
        stack.stop(proc)  # the processor's outputs stay for the comparison
    stored = stack.count(BARS_TABLE)
    assert stored == total, f"the quix peer stored {stored:,} bars of {total:,}"
    return run


def compare_outputs(stack: BenchStack, tolerance: float = 1e-9) -> dict:
    """Compare the peer's tables with the processor's base bars and signals.

    Returns the figures; raises AssertionError naming what differs: a bar or a signal on one side only,
    a value NULL on one side only, or a value apart by more than `tolerance` (both run the same core,
    so anything but 0 is a difference in how the records were read or stored)."""
    with stack.db.connect() as conn:
        return compare_outputs_on(conn, tolerance)


def compare_outputs_on(conn: Connection, tolerance: float = 1e-9) -> dict:
    """compare_outputs on an open connection (which sees its own transaction's changes)."""
    both = "b.ts IS NOT NULL AND p.ts IS NOT NULL"
    bar_sql = ", ".join(
        f"max(abs(b.{c} - p.{c})) AS {c}, count(*) FILTER (WHERE {both} AND (b.{c} IS NULL) <> (p.{c} IS NULL)) "
        f"AS {c}_nulls" for c in BAR_VALUES)
    signal_sql = ", ".join(f"max(abs(s.{c} - p.{c})) AS {c}" for c in SIGNAL_VALUES)
    bars = conn.execute(text(
        "SELECT count(b.ts) AS tickflow, count(p.ts) AS peer, count(*) FILTER (WHERE b.ts IS NULL) AS peer_only, "
        f"count(*) FILTER (WHERE p.ts IS NULL) AS tickflow_only, {bar_sql} "
        f"FROM (SELECT * FROM bars WHERE timeframe = 'raw') b FULL JOIN {BARS_TABLE} p "
        "ON p.symbol = b.symbol AND p.ts = b.ts AND p.timeframe = 'raw'")).mappings().one()
    signals = conn.execute(text(
        "WITH t AS (SELECT symbol, ts, rule, side FROM signals WHERE timeframe = 'raw'), "
        f"q AS (SELECT symbol, ts, rule, side FROM {SIGNALS_TABLE} WHERE timeframe = 'raw') "
        "SELECT (SELECT count(*) FROM t) AS tickflow, (SELECT count(*) FROM q) AS peer, "
        "(SELECT count(*) FROM (TABLE t EXCEPT ALL TABLE q) x) AS tickflow_only, "
        "(SELECT count(*) FROM (TABLE q EXCEPT ALL TABLE t) y) AS peer_only")).mappings().one()
    signal_diffs = conn.execute(text(
        f"SELECT {signal_sql} FROM signals s JOIN {SIGNALS_TABLE} p USING (symbol, timeframe, ts, rule) "
        "WHERE s.timeframe = 'raw'")).mappings().one()
    diffs = {c: float(bars[c] or 0.0) for c in BAR_VALUES} | {f"signal {c}": float(signal_diffs[c] or 0.0)
                                                              for c in SIGNAL_VALUES}
    figures = {
        "bars": bars["tickflow"], "peer_bars": bars["peer"], "signals": signals["tickflow"],
        "peer_signals": signals["peer"], "max_abs_diff": diffs, "max_abs_diff_any": max(diffs.values()),
        "null_mismatches": {c: bars[f"{c}_nulls"] for c in BAR_VALUES if bars[f"{c}_nulls"]},
    }
    problems = []
    if bars["peer_only"] or bars["tickflow_only"] or bars["tickflow"] != bars["peer"]:
        problems.append(f"bars: tickflow {bars['tickflow']}, peer {bars['peer']}; {bars['tickflow_only']} only in "
                        f"tickflow's, {bars['peer_only']} only in the peer's")
    if signals["tickflow_only"] or signals["peer_only"] or signals["tickflow"] != signals["peer"]:
        problems.append(f"signals: tickflow {signals['tickflow']}, peer {signals['peer']}; {signals['tickflow_only']}"
                        f" only in tickflow's, {signals['peer_only']} only in the peer's")
    if figures["null_mismatches"]:
        problems.append(f"NULL on one side only: {figures['null_mismatches']}")
    far = {c: d for c, d in diffs.items() if not d <= tolerance}  # `not <=`: a NaN difference is a difference
    if far:
        problems.append(f"values apart by more than {tolerance:g}: {far}")
    assert not problems, "quix peer and tickflow processor disagree: " + "; ".join(problems)
    return figures


def run_peer(report: Report, stack: BenchStack, total: int, tickflow: ProcessorRun, **quix: object) -> ProcessorRun:
    """The peer on the topic `tickflow` (the processor's run) has just consumed, whose outputs are still
    stored; figures beside the processor's. `quix` goes to run_quix (commit_interval, commit_every)."""
    peer = run_quix(stack, total, **quix)  # type: ignore[arg-type]
    agreed = compare_outputs(stack)
    cores, guarantee = os.cpu_count(), quix.get("guarantee", "at-least-once")
    report.add(Measurement("processor", "quix streams peer (same job, PostgreSQLSink)", peer.rate, "bars/s",
                           f"sustained over {peer.seconds:.1f} s; {guarantee}, checkpoint every "
                           f"{quix.get('commit_interval', 1.0)} s; RSS {peer.rss_start:.0f} → {peer.rss_end:.0f} MB",
                           peer.rate / tickflow.rate, "of the tickflow processor"))
    for name, micros in peer.cpu_us_per_bar.items():
        report.add(Measurement("processor", f"quix peer CPU per stored bar: {name}", micros, "µs",
                               f"tickflow processor: {tickflow.cpu_us_per_bar[name]:.1f} µs; {cores} cores",
                               # CPU time comes in clock ticks: on a short run a part may have used none
                               tickflow.cpu_us_per_bar[name] / micros if micros else None,
                               "tickflow ÷ peer (< 1: tickflow uses less)"))
    report.add(Measurement("processor", "tickflow ÷ quix peer: bars/s", tickflow.rate / peer.rate, "×",
                           f"{tickflow.rate:,.0f} vs {peer.rate:,.0f} bars/s on the same topic, one instance each"))

    def own(run: ProcessorRun) -> float:  # the job's consumer plus the database work it causes
        return run.cpu_us_per_bar["processor"] + run.cpu_us_per_bar["PostgreSQL"]

    report.add(Measurement("processor", "tickflow ÷ quix peer: CPU per bar (consumer + PostgreSQL)",
                           own(tickflow) / own(peer), "×",
                           f"{own(tickflow):.1f} vs {own(peer):.1f} µs per bar; < 1: tickflow uses less"))
    worst = agreed["max_abs_diff_any"]
    report.add(Measurement("processor", "quix peer vs tickflow: bars and signals agree", agreed["bars"], "bars",
                           f"{agreed['signals']:,} signals equal as sets; max |Δ| of any value "
                           f"{worst:.3g} over {len(BAR_VALUES)} columns, NULLs in the same places"))
    return peer
