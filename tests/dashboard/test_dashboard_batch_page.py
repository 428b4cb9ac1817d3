"""The forecast band and the evaluation table on the page (headless Chromium), from rows stored as the
market_forecast and signal_evaluation DAGs store them: the band's points are the stored forecast, the
legend names the model and says "no better than naive" exactly when beats_naive is false, and the
table shows the stored numbers formatted, with the "too few trades" and "lost to buy-and-hold" markers
the API judges. One page load, several views."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
from dashboard_data import candles, insert_rolled, rolled_rows
from sqlalchemy import Engine, text
from test_dashboard_browser import CHROMIUM, WEB_DIR

from services.config import Settings

DAY = 86_400
FORECAST_INSERT = ("INSERT INTO market_forecasts (symbol, target, as_of, step, ts, model, forecast, lo_80, hi_80, "
                   "lo_95, hi_95, mase, naive_mase, beats_naive, history_bars) VALUES %s")
SCORE_INSERT = ("INSERT INTO forecast_evaluations (symbol, target, as_of, model, selected, mase, smape, coverage_80, "
                "coverage_95, cv_windows, horizon, error) VALUES %s")
EVALUATION_FIELDS = ("symbol", "timeframe", "rule", "window_start", "window_end", "fee_bps", "first_ts", "last_ts",
                     "bars", "buy_signals", "sell_signals", "trades", "wins", "win_rate", "mean_trade_return",
                     "total_return", "sharpe", "max_drawdown", "exposure", "open_trade_return", "bh_total_return",
                     "bh_sharpe", "bh_max_drawdown")


def forecast_days(symbol: str, as_of: datetime, model: str, mase: float, naive_mase: float, base: float) -> list[tuple]:
    """Seven days of close (and high, which the band must not show) forecasts with their intervals."""
    return [(symbol, target, as_of, step, as_of + timedelta(days=step), model, base + 0.37 * step + shift,
             base - 1.1 * step + shift, base + 1.9 * step + shift, base - 2.3 * step + shift, base + 3.1 * step + shift,
             mase, naive_mase, model != "naive", 60)
            for target, shift in (("close", 0.0), ("high", 5.0)) for step in range(1, 8)]


def evaluation(symbol: str, timeframe: str, rule: str, last: datetime, **values: Any) -> dict[str, Any]:
    end = last + timedelta(days=1)
    row = {"symbol": symbol, "timeframe": timeframe, "rule": rule, "window_start": end - timedelta(days=30),
           "window_end": end, "fee_bps": 10.0, "first_ts": end - timedelta(days=29), "last_ts": last, "bars": 29,
           "buy_signals": 9, "sell_signals": 8, "wins": 0, "win_rate": None, "mean_trade_return": None, "sharpe": None,
           "exposure": 0.5, "open_trade_return": None, "bh_sharpe": 0.9876, "bh_max_drawdown": 0.1534}
    return {**row, **values}


def store(dsn: str, forecasts: list[tuple], scores: list[tuple], evaluations: list[dict[str, Any]]) -> None:
    conn = psycopg2.connect(dsn)  # the writer, as the DAGs write
    try:
        with conn, conn.cursor() as cur:
            psycopg2.extras.execute_values(cur, FORECAST_INSERT, forecasts)
            psycopg2.extras.execute_values(cur, SCORE_INSERT, scores)
            psycopg2.extras.execute_values(cur, f"INSERT INTO signal_evaluations ({', '.join(EVALUATION_FIELDS)}) "
                                           "VALUES %s", [tuple(e[f] for f in EVALUATION_FIELDS) for e in evaluations])
    finally:
        conn.close()


# The page's formats (static/evaluations.js), written out independently.
def signed_pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:+.2f}%"


def share(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.1f}%"


def ratio(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def shown_row(e: dict[str, Any], span: str, markers: list[str]) -> dict[str, Any]:
    return {"rule": e["rule"],
            "trades": str(e["trades"]) + (" (+1 open)" if e["open_trade_return"] is not None else ""),
            "win-rate": share(e["win_rate"]), "mean-trade": signed_pct(e["mean_trade_return"]),
            "total": signed_pct(e["total_return"]), "bh-total": signed_pct(e["bh_total_return"]),
            "sharpe": ratio(e["sharpe"]), "bh-sharpe": ratio(e["bh_sharpe"]), "drawdown": share(e["max_drawdown"]),
            "bh-drawdown": share(e["bh_max_drawdown"]), "fee": f"{e['fee_bps']:g} bps", "span": span,
            "markers": markers}


def test_forecast_band_and_evaluation_table_show_the_stored_rows(dashboard: str, dash_db: Settings,
                                                                 owner_db: Engine) -> None:
    node = shutil.which("node")
    assert node and (WEB_DIR / "node_modules" / "playwright-core").is_dir()
    with owner_db.begin() as conn:
        conn.execute(text("TRUNCATE signal_evaluations, market_forecasts, forecast_evaluations"))
    # 40 days of hourly base bars of AAPL and MSFT, rolled into daily candles (only those are stored).
    start = float(datetime(2024, 3, 1, tzinfo=timezone.utc).timestamp())
    daily, daily_signals = rolled_rows(candles(("AAPL", "MSFT"), 2 * 24 * 40, seed=3, start=start, interval=3600), "1d")
    insert_rolled(dash_db.database_url, daily, daily_signals)
    as_of = max(b[2] for b in daily if b[0] == "AAPL")  # the last daily candle
    as_of_dt = datetime.fromtimestamp(as_of, timezone.utc)

    # AAPL: no model beat naive (the best other one, drift, did worse); MSFT: theta beat it; TSLA: none.
    forecasts = (forecast_days("AAPL", as_of_dt, "naive", 1.2301, 1.2301, 180.0)
                 + forecast_days("MSFT", as_of_dt, "theta", 0.8123, 0.9345, 410.0))
    scores = [(sym, target, as_of_dt, model, model == chosen, mase, 2.1, 0.81, 0.96, 5, 7, error)
              for sym, chosen, candidates in (
                  ("AAPL", "naive", (("naive", 1.2301, None), ("drift", 1.2468, None), ("theta", 1.3012, None),
                                     ("ets", None, "did not converge"))),
                  ("MSFT", "theta", (("naive", 0.9345, None), ("theta", 0.8123, None))))
              for target in ("close", "high") for model, mase, error in candidates]
    ema = evaluation("AAPL", "1d", "ema_cross", as_of_dt, trades=12, wins=7, win_rate=7 / 12,
                     mean_trade_return=0.012345, total_return=0.2512, bh_total_return=0.1876, sharpe=1.2345,
                     max_drawdown=0.0812)
    macd = evaluation("AAPL", "1d", "macd_cross", as_of_dt, trades=11, wins=5, win_rate=5 / 11,
                      mean_trade_return=-0.004321, total_return=-0.0567, bh_total_return=0.1876, sharpe=-0.4321,
                      max_drawdown=0.1234, open_trade_return=0.0123)
    rsi = evaluation("AAPL", "1d", "rsi", as_of_dt, trades=2, wins=2, win_rate=1.0, mean_trade_return=0.0456,
                     total_return=0.0923, bh_total_return=0.1876, max_drawdown=0.0456)
    raw = evaluation("AAPL", "raw", "ema_cross", as_of_dt, trades=0, total_return=0.0, bh_total_return=-0.0123,
                     max_drawdown=0.0, fee_bps=2.5, first_ts=ema["window_start"] + timedelta(seconds=7),
                     last_ts=as_of_dt + timedelta(hours=23, minutes=59, seconds=58))
    msft = evaluation("MSFT", "1d", "ema_cross", as_of_dt, trades=dash_db.evaluation_min_trades, wins=3, win_rate=0.6,
                      mean_trade_return=0.031, total_return=0.3014, bh_total_return=0.1012, sharpe=1.8765,
                      max_drawdown=0.0611)
    assert rsi["trades"] < dash_db.evaluation_min_trades <= min(ema["trades"], macd["trades"])  # both sides shown
    store(dash_db.database_url, forecasts, scores, [ema, macd, rsi, raw, msft])

    done = subprocess.run([node, str(Path(__file__).with_name("batch_page_check.mjs")), dashboard, str(WEB_DIR),
                           "30000", "AAPL/1d", "table:raw", "MSFT/1d", "TSLA/1d", "TSLA/1m"],
                          capture_output=True, text=True, timeout=120,
                          env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert shown["errors"] == []
    aapl, aapl_raw, msft_view, tsla, tsla_minute = shown["views"]

    # AAPL, daily: the band is the stored close forecast, after the last candle; naive's, and said so.
    band = aapl["forecast"]
    closes = [f for f in forecasts if f[0] == "AAPL" and f[1] == "close"]
    assert band["points"] == {field: [{"time": f[4].timestamp(), "value": f[6 + i]} for f in closes]
                              for i, field in enumerate(("forecast", "lo_80", "hi_80", "lo_95", "hi_95"))}
    assert aapl["lastCandle"] == as_of < band["points"]["forecast"][0]["time"]
    assert band["keys"] == ["naive forecast", "80%", "95%"] and band["beatsNaive"] == "false"
    assert band["note"] == (f"7-day close forecast from {as_of_dt:%Y-%m-%d} · no better than naive: MASE "
                            f"{1.2468:.3f} vs {1.2301:.3f} (best other model: drift); the band is naive's forecast")

    # AAPL, daily: the table, rule by rule, each beside buy-and-hold; too few trades is below the threshold.
    day_span = f"{ema['first_ts']:%Y-%m-%d} – {as_of_dt:%Y-%m-%d} UTC · 29 bars"
    few = f"too few trades (< {dash_db.evaluation_min_trades})"
    assert aapl["table"]["hidden"] is False
    assert aapl["table"]["rows"] == [shown_row(ema, day_span, []),
                                     shown_row(macd, day_span, ["lost to buy-and-hold"]),
                                     shown_row(rsi, day_span, [few, "lost to buy-and-hold"])]
    assert aapl["table"]["rows"][1]["trades"] == "11 (+1 open)" and aapl["table"]["rows"][2]["sharpe"] == "—"
    assert f"fewer than {dash_db.evaluation_min_trades} closed trades" in aapl["table"]["note"]

    # The table's own timeframe selector: the base-bar evaluation (no trade: no win rate; it did not lose).
    raw_span = f"{raw['first_ts']:%Y-%m-%d %H:%M:%S} – {raw['last_ts']:%Y-%m-%d %H:%M:%S} UTC · 29 bars"
    assert aapl_raw["table"]["view"] == "AAPL/raw" and aapl_raw["forecast"]["view"] == "AAPL/1d"
    assert aapl_raw["table"]["rows"] == [shown_row(raw, raw_span, [few])]
    assert aapl_raw["table"]["rows"][0]["win-rate"] == "—" and aapl_raw["table"]["rows"][0]["fee"] == "2.5 bps"

    # MSFT: theta beat naive, and the legend does not say otherwise; exactly the threshold is enough trades.
    band = msft_view["forecast"]
    assert band["keys"] == ["theta forecast", "80%", "95%"] and band["beatsNaive"] == "true"
    assert band["note"] == (f"7-day close forecast from {as_of_dt:%Y-%m-%d} · theta beats naive: MASE {0.8123:.3f} "
                            f"vs {0.9345:.3f}")
    assert "no better than naive" not in band["note"]
    assert [p["value"] for p in band["points"]["hi_95"]] == [f[10] for f in forecasts if f[:2] == ("MSFT", "close")]
    assert msft_view["table"]["rows"] == [shown_row(msft, day_span, [])]

    # TSLA: nothing stored, and both say so; in another timeframe the band is not drawn and the note says why.
    empty = {field: [] for field in ("forecast", "lo_80", "hi_80", "lo_95", "hi_95")}
    assert tsla["forecast"]["points"] == empty and tsla["forecast"]["keys"] == []
    assert tsla["forecast"]["note"].startswith("no forecast for TSLA")
    assert tsla["table"]["hidden"] is True and tsla["table"]["rows"] == []
    assert tsla["table"]["note"].startswith("no evaluation of TSLA's 1d candles yet")
    assert tsla_minute["forecast"]["points"] == empty
    assert tsla_minute["forecast"]["note"] == "forecasts are daily: pick 1d for the 7-day band"
    assert tsla_minute["table"]["view"] == "TSLA/1m"
