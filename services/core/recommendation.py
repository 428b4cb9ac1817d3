"""A recommendation in plain words from stored rows (README, "Recommendations"). Pure: no I/O.

`facts_of` turns the stored rows of one symbol and timeframe (`Evidence`: the newest bar with its
indicators, each rule's newest signal and evaluation, the newest close forecast, the news
sentiment of the last hours) into FACTS: a JSON-able dict in which every value is rounded here,
in `shown` (the one place numbers are rounded), and every part names its source (table and key).
`template_text` writes the facts out in a few deterministic sentences that also say how much
weight the evidence deserves (`weight_of`). It takes every number it writes from the facts
as it is, so each number of the text literally appears there.

`numbers_in` is the one rule for what counts as a number in a text: a date (2024-05-01) or a time
of day (14:05, 14:05:07) is one token; other numbers are read with their thousands separators
(1,234.5), and without their sign (a text may say "fell 1.5%" for -1.5), so "7-day" is 7, "80%" is 80,
"-1.5" is 1.5 and "780-830" is 780 and 830. `unsupported_numbers` lists the numbers of a text that
are not among the facts' (the check an LLM's phrasing must pass).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

# What counts as a number (module docstring). Dates and times come first so that their digits stay one token.
TOKEN = re.compile(r"""
    (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)
  | (?P<number>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)
""", re.VERBOSE)

FORECAST_LEVELS = (80, 95)
WEIGHTS = ("little", "some", "fair")  # how much weight the evidence deserves, least first
INDICATOR_FIELDS = ("close", "sma", "ema_fast", "ema_slow", "rsi", "macd", "macd_signal", "bb_upper", "bb_lower")


@dataclass(frozen=True)
class Policy:
    """What the wording judges by (the DAG's settings; README, "Recommendations")."""
    min_trades: int = 10  # fewer closed trades: "too few trades to judge"
    min_news: int = 3  # fewer news items: "too few to mean much"
    stale_days: int = 4  # a part older than this before the run's end is stale
    news_hours: int = 24  # news sentiment over this many hours before the run's end
    forecast_margin_pct: int = 10  # a forecast counts when its MASE is at least this much below naive's
    rsi_oversold: float = 30.0
    rsi_overbought: float = 70.0


@dataclass(frozen=True)
class Evidence:
    """The stored rows of one symbol and timeframe as of `end` (all before it), as the adapter read them."""
    symbol: str
    timeframe: str
    end: datetime  # the run's end (timezone-aware)
    bar: Mapping[str, Any] | None = None  # bars row: symbol, timeframe, ts and INDICATOR_FIELDS
    signals: list[Mapping[str, Any]] = field(default_factory=list)  # each rule's newest signals row
    evaluations: list[Mapping[str, Any]] = field(default_factory=list)  # each rule's newest signal_evaluations row
    forecast: Mapping[str, Any] | None = None  # the market_forecasts close row of the last step
    news: Mapping[str, Any] | None = None  # count, mean_score (None without items), start, end


# -- rounding and writing numbers: the one place --------------------------------------------------------------------

def shown(value: float | int | None, kind: str) -> float | int | None:
    """`value` rounded for people. price: 5 significant digits, at least 2 decimals (801.23, 1.0712,
    0.00012346); pct: a percentage, and bps: basis points, to 1 decimal; mase: 3 decimals; score: 2
    decimals; rsi: 1 decimal; count: a whole number."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if kind == "count":
        return int(value)
    if kind == "price":
        digits = 2 if value == 0 else max(2, 4 - math.floor(math.log10(abs(value))))
    else:
        digits = {"pct": 1, "bps": 1, "mase": 3, "score": 2, "rsi": 1}[kind]
    return round(float(value), digits) + 0.0  # + 0.0: no "-0.0"


def pct(fraction: float | None) -> float | None:
    return None if fraction is None else shown(fraction * 100, "pct")


def write(value: float | int) -> str:
    """A number as the facts hold it, without exponent or other rounding (801.23, 0.00012346, 464.0)."""
    return str(value) if isinstance(value, int) else format(Decimal(repr(value)), "f")


def signed(value: float) -> str:
    return ("+" if value > 0 else "") + write(value)


def when(ts: datetime) -> str:
    """A time for people, UTC: the date alone at midnight, else to the minute (or second)."""
    ts = ts.astimezone(timezone.utc)
    if (ts.hour, ts.minute, ts.second) == (0, 0, 0):
        return f"{ts:%Y-%m-%d}"
    return f"{ts:%Y-%m-%d %H:%M}" + (f":{ts:%S}" if ts.second else "") + " UTC"


def _key(row: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {n: row[n].isoformat() if isinstance(row[n], datetime) else row[n] for n in names}


# -- facts ---------------------------------------------------------------------------------------------------------

def facts_of(evidence: Evidence, policy: Policy) -> dict[str, Any]:
    """The facts of one recommendation: rounded values, each part with its source (module docstring)."""
    stale_before = evidence.end - timedelta(days=policy.stale_days)
    facts: dict[str, Any] = {
        "symbol": evidence.symbol, "timeframe": evidence.timeframe, "as_of": when(evidence.end),
        "run": {"end": evidence.end.isoformat(), "stale_days": policy.stale_days, "news_hours": policy.news_hours,
                "min_trades": policy.min_trades, "min_news": policy.min_news,
                "forecast_margin_pct": policy.forecast_margin_pct},
        "indicators": _indicators(evidence.bar, policy, stale_before),
        "signals": _signals(evidence.signals, evidence.evaluations, policy),
        "forecast": _forecast(evidence.forecast, policy, stale_before),
        "news": _news(evidence.news, policy),
    }
    facts["summary"] = weight_of(facts)
    return facts


def _indicators(bar: Mapping[str, Any] | None, policy: Policy, stale_before: datetime) -> dict[str, Any] | None:
    if bar is None:
        return None
    values = {f: shown(bar[f], "rsi" if f == "rsi" else "price") for f in INDICATOR_FIELDS}
    upper, lower = bar["bb_upper"], bar["bb_lower"]
    position = None
    if upper is not None and lower is not None and upper > lower:
        position = pct((bar["close"] - lower) / (upper - lower))
    rsi = bar["rsi"]
    zone = None if rsi is None else (
        "overbought" if rsi >= policy.rsi_overbought else "oversold" if rsi <= policy.rsi_oversold else "neutral")
    return {"source": {"table": "bars", "key": _key(bar, ("symbol", "timeframe", "ts"))}, "date": when(bar["ts"]),
            **values, "bollinger_position_pct": position, "rsi_zone": zone, "stale": bar["ts"] < stale_before}


def _signals(signals: list[Mapping[str, Any]], evaluations: list[Mapping[str, Any]],
             policy: Policy) -> list[dict[str, Any]]:
    by_rule = {e["rule"]: e for e in evaluations}
    out = []
    for rule in sorted({s["rule"] for s in signals} | set(by_rule)):
        signal = next((s for s in signals if s["rule"] == rule), None)
        item: dict[str, Any] = {"rule": rule, "latest": None, "evaluation": None}
        if signal is not None:
            item["latest"] = {"source": {"table": "signals",
                                         "key": _key(signal, ("symbol", "timeframe", "ts", "rule"))},
                              "side": signal["side"], "date": when(signal["ts"]),
                              "price": shown(signal["price"], "price")}
        ev = by_rule.get(rule)
        if ev is not None:
            item["evaluation"] = {
                "source": {"table": "signal_evaluations",
                           "key": _key(ev, ("symbol", "timeframe", "rule", "window_end", "fee_bps"))},
                "from": when(ev["first_ts"]), "to": when(ev["last_ts"]),  # the bars evaluated, not the window asked for
                "fee_bps": shown(ev["fee_bps"], "bps"),
                "trades": shown(ev["trades"], "count"), "win_rate_pct": pct(ev["win_rate"]),
                "mean_trade_return_pct": pct(ev["mean_trade_return"]), "total_return_pct": pct(ev["total_return"]),
                "bh_total_return_pct": pct(ev["bh_total_return"]),
                "enough_trades": ev["trades"] >= policy.min_trades,
                "beats_buy_and_hold": ev["total_return"] > ev["bh_total_return"],
            }
        out.append(item)
    return out


def _forecast(row: Mapping[str, Any] | None, policy: Policy, stale_before: datetime) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"source": {"table": "market_forecasts", "key": _key(row, ("symbol", "as_of", "target", "step"))},
            "horizon_days": shown(row["step"], "count"), "made_from": when(row["as_of"]), "date": when(row["ts"]),
            "model": row["model"], "close": shown(row["forecast"], "price"),
            **{f"{side}_{level}": shown(row[f"{side}_{level}"], "price") for level in FORECAST_LEVELS
               for side in ("lo", "hi")},
            "levels_pct": list(FORECAST_LEVELS), "mase": shown(row["mase"], "mase"),
            "naive_mase": shown(row["naive_mase"], "mase"), "beats_naive": bool(row["beats_naive"]),
            "clearly_beats_naive": bool(row["beats_naive"])
            and row["mase"] <= (1 - policy.forecast_margin_pct / 100) * row["naive_mase"],
            "stale": row["as_of"] < stale_before}


def _news(news: Mapping[str, Any] | None, policy: Policy) -> dict[str, Any] | None:
    if news is None:
        return None
    return {"source": {"table": "news_sentiment",
                       "key": {"symbol": news["symbol"], "ts_from": news["start"].isoformat(),
                               "ts_to": news["end"].isoformat()}},
            "items": shown(news["count"], "count"), "mean_score": shown(news["mean_score"], "score"),
            "scale": [-1, 1], "enough": news["count"] >= policy.min_news}


def weight_of(facts: Mapping[str, Any]) -> dict[str, Any]:
    """How much weight the evidence deserves, and why, from the facts alone.

    Evidence that counts: a rule judged on enough trades that beat buy-and-hold, and a fresh
    forecast that beat naive clearly (by the policy's margin). Neither: little; one: some; both: fair. Missing or stale
    indicators make it little whatever else holds (they describe a market that has moved on)."""
    bar, forecast = facts["indicators"], facts["forecast"]
    judged = [s for s in facts["signals"] if s["evaluation"] and s["evaluation"]["enough_trades"]]
    rules_beating = [s["rule"] for s in judged if s["evaluation"]["beats_buy_and_hold"]]
    fresh = bar is not None and not bar["stale"]
    forecast_counts = forecast is not None and forecast["clearly_beats_naive"] and not forecast["stale"]
    support, against = [], []
    if not fresh:
        against.append("the newest bar is stale" if bar else "there is no bar")
    if rules_beating:
        support.append(f"{' and '.join(rules_beating)} beat buy-and-hold on enough trades")
    else:
        against.append("no rule beat buy-and-hold on enough trades" if judged else "no rule has enough trades to judge")
    if forecast_counts:
        support.append("the forecast beat naive")
    else:
        against.append("there is no forecast" if forecast is None else "the forecast is stale" if forecast["stale"]
                       else "the forecast beat naive only narrowly" if forecast["beats_naive"]
                       else "the forecast is no better than assuming no change")
    level = bool(rules_beating) + forecast_counts if fresh else 0
    return {"weight": WEIGHTS[level], "for": support, "against": against}


# -- the text ------------------------------------------------------------------------------------------------------

def template_text(facts: Mapping[str, Any]) -> str:
    """The facts in a few deterministic sentences; every number is one of the facts, written as it is there."""
    run = facts["run"]
    parts = [f"{facts['symbol']} ({_timeframe_words(facts['timeframe'])}), as of {facts['as_of']}."]
    parts.append(_indicator_words(facts["indicators"], run))
    parts.extend(_signal_words(s, run) for s in facts["signals"])
    if not facts["signals"]:
        parts.append("No signal is stored.")
    parts.append(_forecast_words(facts["forecast"], run))
    parts.append(_news_words(facts["news"], run))
    summary = facts["summary"]
    parts.append(f"Weight: {summary['weight']}" + "".join(f"; {side} it: {', '.join(summary[side])}"
                                                         for side in ("for", "against") if summary[side]) + ".")
    return " ".join(parts)


def _timeframe_words(timeframe: str) -> str:
    return "base bars" if timeframe == "raw" else f"{timeframe} candles"


def _indicator_words(bar: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str:
    if bar is None:
        return "No bar is stored: no indicators."
    words = [f"Close {write(bar['close'])} on {bar['date']}"
             + (f", older than {run['stale_days']} days: stale data." if bar["stale"] else ".")]
    if bar["rsi"] is not None:
        words.append(f"RSI {write(bar['rsi'])} ({bar['rsi_zone']}).")
    if bar["sma"] is not None:
        words.append(f"The close is {_side(bar['close'], bar['sma'])} its SMA ({write(bar['sma'])}).")
    if bar["macd"] is not None and bar["macd_signal"] is not None:
        words.append(f"MACD {write(bar['macd'])} is {_side(bar['macd'], bar['macd_signal'])} its signal line "
                     f"({write(bar['macd_signal'])}).")
    if bar["bollinger_position_pct"] is not None:
        words.append(f"The close sits at {write(bar['bollinger_position_pct'])}% of the Bollinger band's width.")
    if len(words) == 1:
        words.append("Too few bars yet for the indicators.")
    return " ".join(words)


def _side(a: float, b: float) -> str:
    return "above" if a > b else "below" if a < b else "at"


def _signal_words(item: Mapping[str, Any], run: Mapping[str, Any]) -> str:
    rule, latest, ev = item["rule"], item["latest"], item["evaluation"]
    said = (f"{rule} last said {latest['side']} on {latest['date']} at {write(latest['price'])}" if latest
            else f"{rule} has no signal")
    if ev is None:
        return f"{said}; not evaluated yet."
    if not ev["enough_trades"]:
        return (f"{said}; followed from {ev['from']} to {ev['to']} it closed {ev['trades']} trades: too few trades "
                f"to judge (fewer than {run['min_trades']}).")
    verdict = "better than" if ev["beats_buy_and_hold"] else "worse than"
    return (f"{said}; followed from {ev['from']} to {ev['to']} it closed {ev['trades']} trades, won "
            f"{write(ev['win_rate_pct'])}% of them, {signed(ev['mean_trade_return_pct'])}% per trade after fees, "
            f"{signed(ev['total_return_pct'])}% in all: {verdict} buy-and-hold ({signed(ev['bh_total_return_pct'])}%).")


def _forecast_words(fc: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str:
    if fc is None:
        return "No forecast is stored."
    lo, hi = FORECAST_LEVELS
    words = (f"The {fc['horizon_days']}-day close forecast for {fc['date']} is {write(fc['close'])} "
             f"({lo}%: {write(fc[f'lo_{lo}'])} to {write(fc[f'hi_{lo}'])}; {hi}%: {write(fc[f'lo_{hi}'])} to "
             f"{write(fc[f'hi_{hi}'])}), by {fc['model']} from the daily candles up to {fc['made_from']}")
    if fc["clearly_beats_naive"]:
        words += f"; it beat naive in cross-validation (MASE {write(fc['mase'])} against {write(fc['naive_mase'])})"
    elif fc["beats_naive"]:
        words += (f"; it beat naive only narrowly in cross-validation (MASE {write(fc['mase'])} against "
                  f"{write(fc['naive_mase'])}, less than {run['forecast_margin_pct']}% better): little better than "
                  "assuming no change")
    else:
        words += (f"; the forecast is no better than assuming no change (MASE {write(fc['mase'])}, naive "
                  f"{write(fc['naive_mase'])})")
    if fc["stale"]:
        words += f"; made more than {run['stale_days']} days ago: stale"
    return words + "."


def _news_words(news: Mapping[str, Any] | None, run: Mapping[str, Any]) -> str:
    if news is None or news["items"] == 0:
        return f"No news sentiment in the last {run['news_hours']} h."
    low, high = news["scale"]
    words = (f"News: {news['items']} items in the last {run['news_hours']} h, mean sentiment "
             f"{signed(news['mean_score'])} on a scale from {low} to {high}")
    return words + ("." if news["enough"] else f": too few to mean much (fewer than {run['min_news']}).")


# -- the number check ----------------------------------------------------------------------------------------------

def numbers_in(text: str) -> set[str]:
    """The numbers of a text (module docstring): dates and times as written, other numbers as canonical
    unsigned decimals ("1,234.50" -> "1234.5", "80" -> "80")."""
    found = set()
    for m in TOKEN.finditer(text):
        if m.lastgroup == "number":
            value = Decimal(m.group().replace(",", "")).normalize()
            found.add(format(value, "f"))
        else:
            found.add(m.group())
    return found


def fact_numbers(facts: Any) -> set[str]:
    """Every number among the facts: numeric values, and the numbers in string values (by `numbers_in`)."""
    if isinstance(facts, Mapping):
        return set().union(*(fact_numbers(v) for v in facts.values()))
    if isinstance(facts, (list, tuple)):
        return set().union(*(fact_numbers(v) for v in facts))
    if isinstance(facts, bool) or facts is None:
        return set()
    if isinstance(facts, (int, float)):
        return numbers_in(write(abs(facts)))
    return numbers_in(str(facts))


def unsupported_numbers(text: str, facts: Mapping[str, Any]) -> list[str]:
    """The numbers of `text` that are not among the facts' (sorted)."""
    return sorted(numbers_in(text) - fact_numbers(facts))
