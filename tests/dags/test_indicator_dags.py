"""indicator_backfill and indicator_reconciliation with dag.test() on what the processor wrote."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dags_support import Streamed, read_rolled, read_tables, task_states, xcom
from sqlalchemy import Engine, text
from support import assert_same_indicators, signal_keys

from services.core.indicators import INDICATOR_COLUMNS

NULLS = ", ".join(f"{c} = NULL" for c in INDICATOR_COLUMNS)


def assert_bars_match(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same bars; indicators NULL in the same places and within the README's indicator tolerance of the stream's."""
    assert got[["symbol", "ts", "open", "high", "low", "close", "volume"]].equals(
        want[["symbol", "ts", "open", "high", "low", "close", "volume"]])
    assert_same_indicators(got, want)


def test_backfill_fills_a_deleted_range_with_the_stream_s_values(
    stream_tables: Streamed, dag_bag: dict[str, Any], dag_env: None, owner_db: Engine
) -> None:
    times = stream_tables.times("AAPL")
    start, end = times[1200], times[1500]  # 1,200 bars of history before: the warm-up path
    with owner_db.begin() as conn:
        wiped = conn.execute(text(f"UPDATE bars SET {NULLS} WHERE timeframe = 'raw' AND symbol IN ('AAPL', 'MSFT') "
                                  "AND ts >= :s AND ts < :e"),
                             {"s": start, "e": end}).rowcount
        deleted = conn.execute(text("DELETE FROM signals WHERE timeframe = 'raw' AND symbol IN ('AAPL', 'MSFT') "
                                    "AND ts >= :s AND ts < :e"),
                               {"s": start, "e": end}).rowcount
    assert wiped == 600 and deleted > 0

    conf = {"symbols": ["AAPL", "MSFT"], "timeframes": ["raw"], "start": start.isoformat(), "end": end.isoformat()}
    run = dag_bag["indicator_backfill"].test(run_conf=conf)
    assert run.state == "success", task_states(run)
    bars, signals = read_tables(owner_db)
    assert_bars_match(bars, stream_tables.bars)
    assert signal_keys(signals) == signal_keys(stream_tables.signals)
    np.testing.assert_allclose(signals["value"], stream_tables.signals["value"], rtol=1e-9, atol=1e-9)
    totals = xcom(run, "summary")
    assert totals["bars"] == 600 and totals["bars_written"] == 600 and totals["signals_inserted"] == deleted
    assert totals["rows_written"] == 600 + deleted and totals["symbols"] == {
        "AAPL": 300 + int((stream_tables.signals.query("symbol == 'AAPL'")["ts"].between(start, end, "left")).sum()),
        "MSFT": 300 + int((stream_tables.signals.query("symbol == 'MSFT'")["ts"].between(start, end, "left")).sum())}
    assert xcom(run, "backfill", 0)["symbol"] == "AAPL"
    assert totals["states"] == {"AAPL": "current", "MSFT": "current"}  # the processor's own state stays

    again = dag_bag["indicator_backfill"].test(run_conf=conf)  # idempotent: nothing left to write
    assert again.state == "success"
    assert xcom(again, "summary")["rows_written"] == 0
    assert read_tables(owner_db)[0].equals(bars)


def test_a_manual_run_without_dates_covers_the_hour_before_it_and_says_when_it_found_nothing(
    stream_tables: Streamed, dag_bag: dict[str, Any], dag_env: None, owner_db: Engine
) -> None:
    """Empty start and end: a manual run covers the hour before it was triggered (what the form says), not the
    interval Airflow infers from its logical date. (Scheduled runs and Airflow's backfills use their data
    interval: see test_airflow_standalone.)"""
    # The data is two days old: the last hour holds nothing, and the run says so with a skipped summary.
    idle = dag_bag["indicator_reconciliation"].test()
    assert idle.state == "success" and task_states(idle)["summary"] == "skipped"
    window = xcom(idle, "plan")[0]["window"]
    assert window["source"] == "the hour before the run was triggered"
    assert (pd.Timestamp(window["end"]) == idle.run_after
            and pd.Timestamp(window["start"]) == idle.run_after - timedelta(hours=1))
    with owner_db.connect() as conn:
        assert conn.execute(text("SELECT message FROM reconciliation_runs WHERE run_id = :r"),
                            {"r": idle.run_id}).scalar_one() == (
            f"no bars over [{window['start']}, {window['end']}) (raw, 1m, 5m, 1h, 1d): nothing was checked")

    # Moved into the last hour (by whole 5-minute windows, so the rolled candles stay aligned), it is processed.
    shift = int(np.ceil((pd.Timestamp.now(tz="UTC").timestamp() - 2_700 - stream_tables.start) / 300) * 300)
    with owner_db.begin() as conn:
        for table in ("bars", "signals"):
            conn.execute(text(f"UPDATE {table} SET ts = ts + make_interval(secs => :s)"), {"s": shift})
        conn.execute(text(f"UPDATE bars SET {NULLS} WHERE timeframe = 'raw' AND symbol = 'TSLA' AND ts >= :t"),
                     {"t": stream_tables.times("TSLA")[1900] + pd.Timedelta(seconds=shift)})
    run = dag_bag["indicator_backfill"].test()
    assert run.state == "success", task_states(run)
    assert xcom(run, "plan")[0]["window"]["end"] == run.run_after.isoformat()
    totals = xcom(run, "summary")  # every timeframe (the default); only TSLA's base bars needed writing
    assert totals["timeframes"]["raw"] == {"bars": 10_000, "rows_written": 100, "candles_inserted": 0}
    assert totals["bars"] == 10_000 + len(stream_tables.rolled_bars) and totals["symbols"]["TSLA"] == 100


def test_backfill_refuses_bad_params_with_a_clear_error(dag_bag: dict[str, Any], dag_env: None) -> None:
    """What the form cannot refuse, `plan` does: one line (a SystemExit, logged without a traceback)."""
    from services.orchestration.tasks import Refused, plan_backfill

    with pytest.raises(Refused, match=r"invalid params: symbols: unknown symbol\(s\) NVDA; configured "
                                   r"symbols are AAPL, GOOGL, AMZN, MSFT, TSLA"):
        plan_backfill({"symbols": ["NVDA"]})
    with pytest.raises(Refused, match=r"invalid params: timeframes: unknown timeframe\(s\) 2h; "
                                   r"the stored ones are raw, 1m, 5m, 1h, 1d"):
        plan_backfill({"timeframes": "1m,2h"})
    with pytest.raises(Refused, match=r"invalid params: start \(2024-05-02T00:00:00\+00:00\) must be "
                                   r"before end \(2024-05-01T00:00:00\+00:00\)"):
        plan_backfill({"start": "2024-05-02", "end": "2024-05-01"})
    run = dag_bag["indicator_backfill"].test(run_conf={"start": "2024-05-02T00:00:00Z", "end": "2024-05-01T00:00:00Z"})
    assert run.state == "failed" and task_states(run)["plan"] == "failed"


def test_reconciliation_passes_on_clean_data_then_catches_and_repairs_a_corrupted_value(
    stream_tables: Streamed, dag_bag: dict[str, Any], dag_env: None, owner_db: Engine
) -> None:
    window = {"start": stream_tables.bars["ts"].min().isoformat(),
              "end": (stream_tables.bars["ts"].max() + timedelta(seconds=1)).isoformat()}
    dag = dag_bag["indicator_reconciliation"]

    clean = dag.test(run_conf=window)  # every timeframe (the default): the processor's candles match too
    assert clean.state == "success", task_states(clean)
    rolled = stream_tables.rolled_bars.groupby("timeframe").size().to_dict()
    bars, values = 10_000 + sum(rolled.values()), 100_000 + sum(rolled.values()) * 16  # a candle: 6 + 10 values
    assert xcom(clean, "summary") == {
        "status": "passed", "bars": bars, "values": values, "mismatches": 0, "repaired_bars": 0, "remaining": 0,
        "message": f"{bars} bars / {values} values over [{window['start']}, {window['end']}) (raw, 1m, 5m, 1h, 1d) "
                   "match pandas + ta",
        "timeframes": {tf: {"bars": n, "mismatches": 0, "remaining": 0}
                       for tf, n in {"raw": 10_000, "1m": rolled["1m"], "5m": rolled["5m"], "1h": 0, "1d": 0}.items()}}

    t = stream_tables.times("GOOGL")[1234]
    true_macd = float(stream_tables.bars.set_index(["symbol", "ts"]).loc[("GOOGL", t), "macd"])
    with owner_db.begin() as conn:
        conn.execute(text("UPDATE bars SET macd = 42.5 WHERE timeframe = 'raw' AND symbol = 'GOOGL' AND ts = :t"),
                     {"t": t})

    caught = dag.test(run_conf=window)
    assert caught.state == "failed"
    states = task_states(caught)
    assert states["summary"] == "failed" and states["plan"] == "success"
    assert all(states[f"reconcile[{i}]"] == "success" for i in range(5))
    with owner_db.connect() as conn:
        row = conn.execute(text("SELECT status, mismatches, remaining_mismatches, message FROM reconciliation_runs "
                                "WHERE run_id = :r"), {"r": caught.run_id}).one()
        reported = conn.execute(text("SELECT phase, symbol, ts, indicator, stored_value, expected_value "
                                     "FROM reconciliation_mismatches WHERE run_id = :r"), {"r": caught.run_id}).all()
    assert tuple(row[:3]) == ("failed", 1, 1)
    assert f"GOOGL {t.isoformat()} macd: stored 42.5, expected {true_macd!r}" in row[3]
    assert [tuple(r[:5]) for r in reported] == [("check", "GOOGL", t, "macd", 42.5)]
    assert reported[0][5] == pytest.approx(true_macd, rel=1e-12, abs=1e-12)

    repaired = dag.test(run_conf={**window, "repair": True})
    assert repaired.state == "success", task_states(repaired)
    summary = xcom(repaired, "summary")
    assert (summary["status"], summary["mismatches"], summary["repaired_bars"], summary["remaining"]) == (
        "repaired", 1, 1, 0)
    assert_bars_match(read_tables(owner_db)[0], stream_tables.bars)
    assert dag.test(run_conf=window).state == "success"


def test_backfill_of_rolled_timeframes_inserts_the_processor_s_candles(
    stream_tables: Streamed, dag_bag: dict[str, Any], dag_env: None, owner_db: Engine
) -> None:
    """As if 1m and 5m had been configured after the history was stored: the backfill creates them."""
    with owner_db.begin() as conn:
        conn.execute(text("DELETE FROM bars WHERE timeframe IN ('1m', '5m')"))
        conn.execute(text("DELETE FROM signals WHERE timeframe IN ('1m', '5m')"))
    window = {"start": stream_tables.bars["ts"].min().isoformat(),
              "end": (stream_tables.bars["ts"].max() + timedelta(seconds=1)).isoformat()}
    run = dag_bag["indicator_backfill"].test(run_conf={**window, "timeframes": ["5m", "1m"]})
    assert run.state == "success", task_states(run)
    totals = xcom(run, "summary")
    rolled = stream_tables.rolled_bars.groupby("timeframe").size().to_dict()
    assert {tf: c["candles_inserted"] for tf, c in totals["timeframes"].items()} == {"1m": rolled["1m"],
                                                                                      "5m": rolled["5m"]}
    assert totals["signals_inserted"] == len(stream_tables.rolled_signals)
    bars, signals = read_rolled(owner_db)
    candle = ["symbol", "timeframe", "ts", "open", "high", "low", "close", "volume", "base_bars"]
    assert bars[candle].equals(stream_tables.rolled_bars[candle])
    assert_same_indicators(bars, stream_tables.rolled_bars)
    assert signal_keys(signals) == signal_keys(stream_tables.rolled_signals)


def test_reconciliation_names_the_timeframe_of_a_corrupted_candle(
    stream_tables: Streamed, dag_bag: dict[str, Any], dag_env: None, owner_db: Engine
) -> None:
    window = {"start": stream_tables.bars["ts"].min().isoformat(),
              "end": (stream_tables.bars["ts"].max() + timedelta(seconds=1)).isoformat()}
    five = stream_tables.rolled_bars.query("timeframe == '5m' and symbol == 'AMZN'")
    t = five["ts"].iloc[3]
    with owner_db.begin() as conn:
        conn.execute(text("UPDATE bars SET high = high + 1 WHERE timeframe = '5m' AND symbol = 'AMZN' AND ts = :t"),
                     {"t": t})
    dag = dag_bag["indicator_reconciliation"]
    caught = dag.test(run_conf={**window, "timeframes": ["5m", "1m"]})
    assert caught.state == "failed"
    with owner_db.connect() as conn:
        reported = conn.execute(text("SELECT symbol, timeframe, ts, indicator FROM reconciliation_mismatches "
                                     "WHERE run_id = :r"), {"r": caught.run_id}).all()
        timeframes = conn.execute(text("SELECT timeframes FROM reconciliation_runs WHERE run_id = :r"),
                                  {"r": caught.run_id}).scalar_one()
    assert [tuple(r) for r in reported] == [("AMZN", "5m", t, "high")] and timeframes == ["1m", "5m"]
    repaired = dag.test(run_conf={**window, "timeframes": ["5m"], "repair": True})
    assert repaired.state == "success", task_states(repaired)
    assert xcom(repaired, "summary")["timeframes"] == {"5m": {"bars": len(stream_tables.rolled_bars.query(
        "timeframe == '5m'")), "mismatches": 1, "remaining": 0}}
    assert read_rolled(owner_db)[0].equals(stream_tables.rolled_bars)
