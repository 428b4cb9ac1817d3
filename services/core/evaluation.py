"""What following a rule's signals would have done: trades, returns, Sharpe and drawdown beside
buy-and-hold over the same bars (README, "Signal evaluation"). Pure and vectorised (numpy).

A *span* is a series of bars (closes in time order) and the signals of ONE rule on them.

- Long-only, one position at a time, all capital in or out. A BUY while flat enters at the
  close of the signal's bar; a SELL while long exits at the close of its bar. A BUY while long
  and a SELL while flat change nothing. So the position held after a bar is simply the side
  of the latest signal so far (BUY = in, SELL = out; flat before the first signal).
- A fee of `fee_bps` basis points of the traded amount is paid on every entry and every exit:
  a closed trade returns (1 - f)² · exit / entry - 1 with f = fee_bps / 10,000.
- A trade still open after the span's last bar is not counted in `trades`, `wins`,
  `win_rate` or `mean_trade_return`; it is reported apart (`open_trade_return`, marked at the
  last close with the exit fee) and, for the equity curve, sold at the last close with the
  exit fee, as buy-and-hold is.
- Equity starts at 1 before the first bar; each bar multiplies it by (1 + r) when a position
  was held over the bar (r = close / previous close - 1) and by (1 - f) per entry or exit on
  it. `total_return` = final equity - 1; `max_drawdown` = the largest fall from a running
  peak (the start, 1, included), a fraction in [0, 1]; `exposure` = the share of bar-to-bar
  intervals with a position.
- `sharpe` = mean / sample std (n - 1) of the bars' equity returns (equity_t / equity_t-1 - 1,
  every bar of the span), times sqrt(bars per year), bars per year = (bars - 1) / the span's
  length in years of 365.25 days; so daily trading-day candles are annualised with ≈ 252, and
  no risk-free rate. None with fewer than 3 bars or a constant equity curve.
- Buy-and-hold is the same computation with a single BUY on the span's first bar.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Performance", "SECONDS_PER_YEAR", "evaluate", "evaluate_rules", "positions"]

SECONDS_PER_YEAR = 365.25 * 86_400


@dataclass(frozen=True, slots=True)
class Performance:
    bars: int
    trades: int  # closed trades
    wins: int  # closed trades with a return > 0 after fees
    win_rate: float | None  # wins / trades
    mean_trade_return: float | None  # mean return per closed trade, after fees
    total_return: float  # final equity - 1
    sharpe: float | None
    max_drawdown: float
    exposure: float
    open_trade_return: float | None  # the trade still open at the end, if any

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def positions(n: int, signal_bars: np.ndarray, is_buy: np.ndarray) -> np.ndarray:
    """The position held after each of `n` bars (1.0 in, 0.0 out): the latest signal's side."""
    held = np.full(n, np.nan)
    held[np.asarray(signal_bars, dtype=np.int64)] = np.asarray(is_buy, dtype=np.float64)
    return pd.Series(held).ffill().fillna(0.0).to_numpy()


def evaluate(close: np.ndarray, seconds: np.ndarray, signal_bars: np.ndarray, is_buy: np.ndarray,
             fee_bps: float) -> Performance:
    """One rule over one span: `close` and `seconds` (epoch, increasing) per bar; the signals as bar
    positions (increasing) and sides (True = BUY)."""
    close = np.asarray(close, dtype=np.float64)
    n = len(close)
    if n == 0:
        raise ValueError("a span needs at least one bar")
    keep = 1.0 - fee_bps / 10_000.0
    pos = positions(n, signal_bars, is_buy)
    change = np.diff(pos, prepend=0.0)  # +1 entry, -1 exit on that bar
    held = np.concatenate([[0.0], pos[:-1]])  # position over the interval ending at each bar
    bar_return = np.concatenate([[0.0], close[1:] / close[:-1] - 1.0])
    fees = np.abs(change)
    fees[-1] += pos[-1]  # an open trade is sold at the last close
    factor = (1.0 + held * bar_return) * keep ** fees
    equity = np.cumprod(factor)

    entries, exits = np.flatnonzero(change > 0), np.flatnonzero(change < 0)
    trade_returns = keep * keep * close[exits] / close[entries[:len(exits)]] - 1.0
    trades, wins = len(exits), int((trade_returns > 0).sum())
    open_return = keep * keep * close[-1] / close[entries[-1]] - 1.0 if pos[-1] else None

    sharpe = None
    years = (float(seconds[-1]) - float(seconds[0])) / SECONDS_PER_YEAR
    step = factor - 1.0
    if n >= 3 and years > 0:
        spread = step.std(ddof=1)
        if spread > 0:
            sharpe = float(step.mean() / spread * np.sqrt((n - 1) / years))
    peaks = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return Performance(
        bars=n, trades=trades, wins=wins, win_rate=wins / trades if trades else None,
        mean_trade_return=float(trade_returns.mean()) if trades else None,
        total_return=float(equity[-1] - 1.0), sharpe=sharpe,
        max_drawdown=float(max((1.0 - equity / peaks).max(), 0.0)),
        exposure=float(held[1:].mean()) if n > 1 else 0.0,
        open_trade_return=None if open_return is None else float(open_return),
    )


def evaluate_rules(bars: pd.DataFrame, signals: pd.DataFrame, rules: tuple[str, ...],
                   fee_bps: float) -> list[dict[str, Any]]:
    """Every rule over one span, each beside buy-and-hold.

    `bars`: `seconds` (epoch, increasing) and `close`; `signals`: `seconds`, `rule`, `side`
    (signals at a time without a bar are ignored). One dict per rule: its Performance, its
    signal counts, and buy-and-hold's `bh_total_return`, `bh_sharpe`, `bh_max_drawdown`.
    """
    close = bars["close"].to_numpy(dtype=np.float64)
    seconds = bars["seconds"].to_numpy(dtype=np.float64)
    hold = evaluate(close, seconds, np.array([0]), np.array([True]), fee_bps)
    at = pd.Index(seconds).get_indexer(signals["seconds"].to_numpy(dtype=np.float64))
    placed = signals.assign(bar=at)[at >= 0].sort_values("bar", kind="stable")
    out = []
    for rule in rules:
        mine = placed[placed["rule"] == rule]
        is_buy = (mine["side"] == "BUY").to_numpy()
        perf = evaluate(close, seconds, mine["bar"].to_numpy(), is_buy, fee_bps)
        out.append({"rule": rule, **perf.as_dict(), "buy_signals": int(is_buy.sum()),
                    "sell_signals": int((~is_buy).sum()), "bh_total_return": hold.total_return,
                    "bh_sharpe": hold.sharpe, "bh_max_drawdown": hold.max_drawdown})
    return out
