"""Signal evaluation (services/core/evaluation.py): a hand-computed case of three trades with a
10 bps fee, an open trade at the end, and a plain per-bar loop as an independent oracle."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.core.evaluation import evaluate, evaluate_rules

DAY = 86_400.0
CLOSE = [100.0, 110.0, 120.0, 115.0, 108.0, 100.0, 104.0, 125.0, 130.0]
SECONDS = [i * DAY for i in range(len(CLOSE))]
# BUY 0 (100) - SELL 1 (110); BUY 2 (120), BUY 3 ignored (long) - SELL 4 (108); BUY 5 (100) - SELL 7 (125);
# SELL 8 ignored (flat)
SIGNALS = [(0, True), (1, False), (2, True), (3, True), (4, False), (5, True), (7, False), (8, False)]
K = 0.999  # what is kept of each entry and exit at 10 bps


def run(signals: list[tuple[int, bool]], fee_bps: float = 10.0, close: list[float] = CLOSE):
    bars, sides = zip(*signals) if signals else ((), ())
    return evaluate(np.array(close), np.array(SECONDS[:len(close)]), np.array(bars, dtype=int),
                    np.array(sides, dtype=bool), fee_bps)


def test_three_trades_with_fees_by_hand() -> None:
    p = run(SIGNALS)
    trades = [1.1 * K * K - 1, 0.9 * K * K - 1, 1.25 * K * K - 1]  # 0.0978011, -0.1017991, 0.24750125
    assert (p.bars, p.trades, p.wins) == (9, 3, 2)
    assert p.win_rate == pytest.approx(2 / 3)
    assert p.mean_trade_return == pytest.approx((0.0978011 - 0.1017991 + 0.24750125) / 3, abs=1e-12)
    assert p.mean_trade_return == pytest.approx(sum(trades) / 3, abs=1e-15)
    assert p.total_return == pytest.approx(1.1 * 0.9 * 1.25 * K ** 6 - 1, abs=1e-15)
    assert p.open_trade_return is None
    # held over the intervals ending at bars 1..8: 1,0,1,1,0,1,1,0
    assert p.exposure == 5 / 8
    # peak after bar 1 (1.1 K²), trough after entering at bar 5 (1.1 · 0.9 · K⁵)
    assert p.max_drawdown == pytest.approx(1 - 0.9 * K ** 3, abs=1e-15)
    factors = [K, 1.1 * K, K, 115 / 120, 108 / 115 * K, K, 104 / 100, 125 / 104 * K, 1.0]
    steps = [f - 1 for f in factors]
    bars_per_year = 8 / (8 / 365.25)
    assert p.sharpe == pytest.approx(statistics.mean(steps) / statistics.stdev(steps) * math.sqrt(bars_per_year),
                                     rel=1e-12)


def test_no_fee_and_an_open_trade_at_the_end() -> None:
    p = run([(0, True), (1, False), (6, True), (7, True)], fee_bps=0.0)
    assert (p.trades, p.wins, p.mean_trade_return) == (1, 1, pytest.approx(0.1))
    assert p.open_trade_return == pytest.approx(130 / 104 - 1)
    assert p.total_return == pytest.approx(1.1 * 130 / 104 - 1)
    with_fee = run([(0, True), (1, False), (6, True), (7, True)], fee_bps=25.0)
    keep = 1 - 25 / 10_000
    assert with_fee.open_trade_return == pytest.approx(keep ** 2 * 130 / 104 - 1)  # sold at the last close
    assert with_fee.total_return == pytest.approx(keep ** 4 * 1.1 * 130 / 104 - 1)


def test_no_signals_or_only_sells_is_flat() -> None:
    for signals in ([], [(2, False), (5, False)]):
        p = run(signals)
        assert (p.trades, p.total_return, p.max_drawdown, p.exposure, p.sharpe) == (0, 0.0, 0.0, 0.0, None)
        assert p.win_rate is None and p.mean_trade_return is None and p.open_trade_return is None


def test_evaluate_rules_beside_buy_and_hold() -> None:
    bars = pd.DataFrame({"seconds": SECONDS, "close": CLOSE})
    signals = pd.DataFrame(
        [(SECONDS[i], "macd_cross", "BUY" if buy else "SELL") for i, buy in SIGNALS]
        + [(SECONDS[3], "rsi", "BUY"), (SECONDS[3] + 1, "rsi", "SELL")],  # the SELL is at no bar's time
        columns=["seconds", "rule", "side"]).sample(frac=1.0, random_state=3)  # any order
    rows = {r["rule"]: r for r in evaluate_rules(bars, signals, ("rsi", "ema_cross", "macd_cross"), 10.0)}
    assert rows["macd_cross"]["total_return"] == pytest.approx(1.1 * 0.9 * 1.25 * K ** 6 - 1, abs=1e-15)
    assert (rows["macd_cross"]["buy_signals"], rows["macd_cross"]["sell_signals"]) == (4, 4)
    assert rows["rsi"]["open_trade_return"] == pytest.approx(K * K * 130 / 115 - 1)
    assert (rows["rsi"]["buy_signals"], rows["rsi"]["sell_signals"], rows["ema_cross"]["trades"]) == (1, 0, 0)
    for row in rows.values():  # buy-and-hold: in at 100, out at 130, worst fall 120 -> 100
        assert row["bh_total_return"] == pytest.approx(K * K * 1.3 - 1, abs=1e-15)
        assert row["bh_max_drawdown"] == pytest.approx(1 - 100 / 120, abs=1e-15)
        assert row["bh_sharpe"] is not None and row["bh_sharpe"] > 0


def loop_oracle(close: list[float], signals: dict[int, bool], fee_bps: float) -> tuple[int, int, float, float]:
    """The rules of the module docstring, walked bar by bar: (trades, wins, total return, max drawdown)."""
    keep = 1 - fee_bps / 10_000
    equity, peak, worst, position, entry, trades, wins = 1.0, 1.0, 0.0, False, 0.0, 0, 0
    for i, price in enumerate(close):
        if position and i:
            equity *= price / close[i - 1]
        side = signals.get(i)
        if side is True and not position:
            position, entry, equity = True, price, equity * keep
        elif side is False and position:
            position, equity, trades = False, equity * keep, trades + 1
            wins += keep * keep * price / entry - 1 > 0
        if position and i == len(close) - 1:
            equity *= keep
        peak = max(peak, equity)
        worst = max(worst, 1 - equity / peak)
    return trades, wins, equity - 1, worst


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1.0, 1000.0), min_size=1, max_size=40), st.data(), st.floats(0.0, 100.0))
def test_equals_a_per_bar_loop(close: list[float], data: st.DataObject, fee_bps: float) -> None:
    n = len(close)
    signals = data.draw(st.dictionaries(st.integers(0, n - 1), st.booleans(), max_size=n))
    bars = sorted(signals)
    p = evaluate(np.array(close), np.arange(n) * DAY, np.array(bars, dtype=int),
                 np.array([signals[b] for b in bars], dtype=bool), fee_bps)
    trades, wins, total, drawdown = loop_oracle(close, signals, fee_bps)
    assert (p.trades, p.wins) == (trades, wins)
    assert p.total_return == pytest.approx(total, rel=1e-9, abs=1e-12)
    assert p.max_drawdown == pytest.approx(drawdown, rel=1e-9, abs=1e-12)
