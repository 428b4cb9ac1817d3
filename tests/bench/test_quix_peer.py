"""bench.peer on a tiny stream (real Kafka and PostgreSQL): the Quix Streams peer stores what the
processor stores, its figures are there, and compare_outputs notices a difference."""
from __future__ import annotations

from typing import Iterator

import pytest
from sqlalchemy import text

from bench import peer
from bench.measure import ProcessorRun, measure_committed
from bench.pipeline import candles, produce
from bench.quix_peer import BARS_TABLE, SIGNALS_TABLE
from bench.report import Report
from bench.stack import BenchStack, free_port

CANDLES = 5_000
BATCH = 100  # small batches and checkpoints: the stored row count must move in steps to time the run


@pytest.fixture(scope="module")
def runs(stack: BenchStack) -> Iterator[tuple[Report, ProcessorRun, ProcessorRun]]:
    """The processor, then the peer, on one pre-filled topic; the processor's outputs stay stored."""
    stack.fresh_namespace()
    produce(stack, candles(stack, CANDLES))
    port = free_port()
    procs = [stack.spawn("processor", "--metrics-port", str(port), "--batch-max", str(BATCH),
                         health=f"http://127.0.0.1:{port}/readyz")]
    tickflow = measure_committed(procs, stack.settings.database_url, stack.settings.processor_group, CANDLES)
    stack.stop_all()
    report = Report()
    quix = peer.run_peer(report, stack, CANDLES, tickflow, commit_interval=0.1, commit_every=BATCH)
    yield report, tickflow, quix
    stack.stop_all()


def test_the_peer_stores_what_the_processor_stores(stack: BenchStack,
                                                   runs: tuple[Report, ProcessorRun, ProcessorRun]) -> None:
    figures = peer.compare_outputs(stack, tolerance=0.0)  # the same core code: bit-identical
    assert figures["bars"] == figures["peer_bars"] == CANDLES
    assert figures["signals"] == figures["peer_signals"] > 0
    assert figures["max_abs_diff_any"] == 0.0 and not figures["null_mismatches"]
    with stack.db.connect() as conn:  # the first bars of a symbol have no indicators yet: NULLs were compared
        assert conn.execute(text(f"SELECT count(*) FROM {BARS_TABLE} WHERE macd_signal IS NULL")).scalar_one() > 0


def test_the_figures_are_there_and_positive(runs: tuple[Report, ProcessorRun, ProcessorRun]) -> None:
    report, tickflow, quix = runs
    assert quix.rate > 0 and quix.seconds > 0
    cpu = quix.cpu_us_per_bar
    assert cpu["processor"] > 0 and cpu["PostgreSQL"] > 0 and cpu["Kafka"] >= 0, cpu  # Kafka's may round to 0
    by_name = {m.name: m for m in report.measurements}
    assert by_name["quix streams peer (same job, PostgreSQLSink)"].value == quix.rate
    assert by_name["tickflow ÷ quix peer: bars/s"].value == pytest.approx(tickflow.rate / quix.rate)
    assert by_name["tickflow ÷ quix peer: CPU per bar (consumer + PostgreSQL)"].value > 0
    assert by_name["quix peer vs tickflow: bars and signals agree"].value == CANDLES
    assert all(m.value > 0 for m in report.measurements if "CPU per stored bar: processor" in m.name)


@pytest.mark.parametrize("change, complaint", [
    (f"UPDATE {BARS_TABLE} SET rsi = rsi + 1e-6 WHERE (symbol, ts) = (SELECT symbol, ts FROM {BARS_TABLE} "
     "WHERE rsi IS NOT NULL LIMIT 1)", "rsi"),
    (f"UPDATE {BARS_TABLE} SET sma = NULL WHERE (symbol, ts) = (SELECT symbol, ts FROM {BARS_TABLE} "
     "WHERE sma IS NOT NULL LIMIT 1)", "NULL on one side only: {'sma': 1}"),
    (f"DELETE FROM {BARS_TABLE} WHERE (symbol, ts) = (SELECT symbol, ts FROM {BARS_TABLE} LIMIT 1)",
     "1 only in tickflow's"),
    (f"UPDATE {SIGNALS_TABLE} SET side = CASE side WHEN 'BUY' THEN 'SELL' ELSE 'BUY' END "
     f"WHERE (symbol, ts, rule) = (SELECT symbol, ts, rule FROM {SIGNALS_TABLE} LIMIT 1)", "signals: "),
])
def test_a_difference_fails_the_comparison(stack: BenchStack, runs: tuple[Report, ProcessorRun, ProcessorRun],
                                           change: str, complaint: str) -> None:
    with stack.db.connect() as conn:
        conn.begin()
        conn.execute(text(change))
        with pytest.raises(AssertionError, match="disagree") as failed:
            peer.compare_outputs_on(conn)
        conn.rollback()  # the next case starts from agreeing tables again
    assert complaint in str(failed.value)
