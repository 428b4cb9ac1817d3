"""market_summary with dag.test() on prepared bars and signals of several timeframes: every stored
value equals an independent pandas computation (OHLC, return, volatility, volume, signal counts,
hit rates), per timeframe and period."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import psycopg2.extras
import pytest
from dags_support import task_states, xcom
from sqlalchemy import Engine, text

END = datetime(2024, 5, 15, 12, 0, tzinfo=timezone.utc)  # after the DAG's start_date (earlier runs have no tasks)
RULES = ("rsi", "ema_cross", "macd_cross")
PERIODS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
# What each timeframe is summarised over: base bars the last hour and day, a rolled timeframe every
# period at least twice its length. 1m and 1d have no candles here: nothing is stored for them.
LENGTHS = {"raw": timedelta(0), "5m": timedelta(minutes=5), "1h": timedelta(hours=1)}
TIMEFRAME_PERIODS = {"raw": ("1h", "1d"), "5m": ("1h", "1d", "7d"), "1h": ("1d", "7d")}
TABLES = ("bars", "signals", "market_summary_rules", "market_summaries", "dashboard_feed")


def prepared_market(seed: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bars every 60 s from END - 26 h to END + 10 min (AAPL, MSFT) and, for TSLA, only hours that
    end before the last hour; random signals, plus some on the window edges."""
    rng = np.random.default_rng(seed)
    frames, signals = [], []
    for symbol, first, last in (("AAPL", END - timedelta(hours=26), END + timedelta(minutes=10)),
                                ("MSFT", END - timedelta(hours=26), END + timedelta(minutes=10)),
                                ("TSLA", END - timedelta(hours=5), END - timedelta(hours=2))):
        ts = pd.date_range(first, last, freq="60s", inclusive="left", tz="UTC")
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, len(ts))))
        open_ = np.concatenate([[close[0]], close[:-1]])
        frames.append(pd.DataFrame({
            "symbol": symbol, "ts": ts, "open": open_, "close": close,
            "high": np.maximum(open_, close) * (1 + rng.uniform(0, 0.001, len(ts))),
            "low": np.minimum(open_, close) * (1 - rng.uniform(0, 0.001, len(ts))),
            "volume": rng.integers(100, 10_000, len(ts)),
        }))
        picks = rng.random(len(ts)) < 0.08
        edges = [ts.get_loc(t) for t in (END - timedelta(hours=1), END - timedelta(days=1), END - timedelta(minutes=1),
                                          END - timedelta(minutes=3), END) if t in ts]
        picks[edges] = True
        for i in np.flatnonzero(picks):
            signals.append((symbol, ts[i], str(rng.choice(RULES)), str(rng.choice(["BUY", "SELL"])), float(close[i]),
                            "raw"))
    bars = pd.concat(frames, ignore_index=True).assign(timeframe="raw", base_bars=1)
    rolled = [bars]
    for timeframe, freq in (("5m", "5min"), ("1h", "1h")):
        candles = (bars.set_index("ts").groupby("symbol")
                   .resample(freq, label="left", closed="left")
                   .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum",
                         "base_bars": "count"})
                   .dropna().reset_index())
        candles = candles.assign(timeframe=timeframe, base_bars=candles.base_bars.astype(int))
        rolled.append(candles)
        for c in candles[rng.random(len(candles)) < 0.3].itertuples():
            signals.append((c.symbol, c.ts, str(rng.choice(RULES)), str(rng.choice(["BUY", "SELL"])), float(c.close),
                            timeframe))
    sigs = pd.DataFrame(signals, columns=["symbol", "ts", "rule", "side", "price", "timeframe"]).drop_duplicates(
        ["symbol", "timeframe", "ts", "rule"])
    return pd.concat(rolled, ignore_index=True), sigs


def expected_summaries(bars: pd.DataFrame, signals: pd.DataFrame, end: datetime, horizon: int) -> dict:
    """{(symbol, timeframe, period): summary with per-rule counts}, computed from the frames alone."""
    out = {}
    for timeframe, period in ((tf, p) for tf, periods in TIMEFRAME_PERIODS.items() for p in periods):
        start = end - PERIODS[period]
        # a candle counts when it lies wholly inside [start, end)
        inside = end - (LENGTHS[timeframe] or timedelta(microseconds=1))
        tf_bars, tf_signals = bars[bars.timeframe == timeframe], signals[signals.timeframe == timeframe]
        for symbol, w in tf_bars[(tf_bars.ts >= start) & (tf_bars.ts <= inside)].groupby("symbol"):
            w = w.sort_values("ts").reset_index(drop=True)
            returns = np.log(w.close / w.close.shift(1)).dropna()
            position = {t: i for i, t in enumerate(w.ts)}
            rows = {r: {"buy_signals": 0, "sell_signals": 0, "evaluated": 0, "hits": 0} for r in RULES}
            for s in tf_signals[(tf_signals.symbol == symbol) & (tf_signals.ts >= start)
                                & (tf_signals.ts <= inside)].itertuples():
                row = rows[s.rule]
                row["buy_signals" if s.side == "BUY" else "sell_signals"] += 1
                i = position[s.ts]
                if i + horizon < len(w):
                    row["evaluated"] += 1
                    move = w.close[i + horizon] - w.close[i]
                    row["hits"] += int(move > 0 if s.side == "BUY" else move < 0)
            for row in rows.values():
                row["hit_rate"] = row["hits"] / row["evaluated"] if row["evaluated"] else None
            total = {k: sum(r[k] for r in rows.values()) for k in ("buy_signals", "sell_signals", "evaluated", "hits")}
            out[(symbol, timeframe, period)] = {
                "window_start": start, "window_end": end, "bars": len(w), "first_ts": w.ts.iloc[0],
                "last_ts": w.ts.iloc[-1], "open": w.open.iloc[0], "high": w.high.max(), "low": w.low.min(),
                "close": w.close.iloc[-1], "return": w.close.iloc[-1] / w.open.iloc[0] - 1,
                "volatility": returns.std(ddof=1) if len(returns) >= 2 else None, "volume": int(w.volume.sum()),
                "horizon_bars": horizon, **total,
                "hit_rate": total["hits"] / total["evaluated"] if total["evaluated"] else None, "rules": rows,
            }
    return out


def stored_summaries(engine: Engine, end: datetime) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM market_summaries WHERE window_end = :e"), {"e": end}).mappings().all()
        rules = conn.execute(text("SELECT * FROM market_summary_rules WHERE window_end = :e"),
                             {"e": end}).mappings().all()
    out = {}
    for r in rows:
        out[(r["symbol"], r["timeframe"], r["period"])] = {**dict(r), "rules": {}}
    for r in rules:
        out[(r["symbol"], r["timeframe"], r["period"])]["rules"][r["rule"]] = {
            k: r[k] for k in ("buy_signals", "sell_signals", "evaluated", "hits", "hit_rate")}
    return out


def assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, w in want.items():
        g = got[key]
        for field, value in w.items():
            if field == "rules":
                assert g["rules"] == value, key  # counts, and hit rates from the same counts
            elif value is None or isinstance(value, (int, np.integer)):
                assert g[field] == value, (key, field)
            elif isinstance(value, (float, np.floating)):
                assert math.isclose(g[field], value, rel_tol=1e-9, abs_tol=1e-15), (key, field, g[field], value)
            else:
                assert g[field] == value, (key, field)


@pytest.fixture
def market(owner_db: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    bars, signals = prepared_market()
    with owner_db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    raw = owner_db.raw_connection()
    try:
        with raw.cursor() as cur:
            psycopg2.extras.execute_values(
                cur, "INSERT INTO bars (symbol, timeframe, ts, open, high, low, close, volume, base_bars) VALUES %s",
                [(r.symbol, r.timeframe, r.ts.to_pydatetime(), r.open, r.high, r.low, r.close, int(r.volume),
                  int(r.base_bars)) for r in bars.itertuples()], page_size=5000)
            psycopg2.extras.execute_values(
                cur, "INSERT INTO signals (symbol, timeframe, ts, rule, side, price, value, reference) VALUES %s",
                [(r.symbol, r.timeframe, r.ts.to_pydatetime(), r.rule, r.side, r.price, 0.0, 0.0)
                 for r in signals.itertuples()])
        raw.commit()
    finally:
        raw.close()
    return bars, signals


def test_market_summary_stores_what_pandas_computes(market: tuple[pd.DataFrame, pd.DataFrame],
                                                    dag_bag: dict[str, Any], dag_env: None, owner_db: Engine) -> None:
    bars, signals = market
    dag = dag_bag["market_summary"]
    run = dag.test(logical_date=END)  # a manual run at 12:00 gets the data interval [11:00, 12:00)
    assert run.state == "success", task_states(run)
    assert run.data_interval_end == END
    want = expected_summaries(bars, signals, END, horizon=5)
    # no TSLA bars in the last hour; its 1h candles end before it
    assert {k for k in want if k[0] == "TSLA"} == {("TSLA", tf, p) for tf, p in (("raw", "1d"), ("5m", "1d"),
                                                                               ("5m", "7d"), ("1h", "1d"),
                                                                               ("1h", "7d"))}
    assert want[("AAPL", "1h", "1d")]["bars"] == 24 and want[("AAPL", "5m", "1h")]["bars"] == 12
    assert any(w["evaluated"] < w["buy_signals"] + w["sell_signals"] for w in want.values())  # edge signals
    got = stored_summaries(owner_db, END)
    assert_same(got, want)
    assert {g["run_id"] for g in got.values()} == {run.run_id}
    report = xcom(run, "summarize")
    assert report["timeframes"]["raw"]["1h"]["symbols"]["AAPL"]["bars"] == want[("AAPL", "raw", "1h")]["bars"]
    assert {p: r["symbols"] for p, r in report["timeframes"]["1m"].items()} == {"1h": {}, "1d": {}, "7d": {}}
    assert set(report["timeframes"]["1d"]) == {"7d"}

    # Params: another window end and horizon; re-running a window replaces its rows.
    other_end = END - timedelta(minutes=30)
    for _ in range(2):
        again = dag_bag["market_summary"].test(run_conf={"end": other_end.isoformat(), "horizon_bars": 3,
                                                          "timeframes": ["raw", "1h"]})
        assert again.state == "success", task_states(again)
    want_other = {k: v for k, v in expected_summaries(bars, signals, other_end, horizon=3).items() if k[1] != "5m"}
    assert want_other[("AAPL", "1h", "1d")]["bars"] == 23  # 10:00-11:00 is the last 1h candle before 11:30
    assert_same(stored_summaries(owner_db, other_end), want_other)
    assert_same(stored_summaries(owner_db, END), want)  # the earlier window is still there
    with owner_db.connect() as conn:  # queryable in SQL: the newest summary per symbol, timeframe and period
        latest = conn.execute(text("SELECT symbol, timeframe, period, window_end, horizon_bars "
                                   "FROM market_summary_latest ORDER BY symbol, timeframe, period")).all()
    assert [(s, tf, p) for s, tf, p, _, _ in latest] == sorted(want)
    assert {w for *_, w, _ in latest} == {END}

    # An unknown timeframe is refused by the params' schema (the trigger form's choices) before any run.
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="Invalid input for param timeframes: '7m' is not one of"):
        dag_bag["market_summary"].test(run_conf={"timeframes": ["7m"]})
