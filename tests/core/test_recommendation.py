"""The recommendation's wording from facts (services/core/recommendation.py): rounding in one place,
what the text says about the weight of the evidence, missing and stale parts, and the number rule."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from services.core.recommendation import (
    Evidence,
    Policy,
    fact_numbers,
    facts_of,
    numbers_in,
    shown,
    template_text,
    unsupported_numbers,
    write,
)

END = datetime(2013, 3, 2, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def bar(**kw: object) -> dict:
    return {"symbol": "GOOG", "timeframe": "1d", "ts": END - 2 * DAY, "close": 801.2345, "sma": 780.1234,
            "ema_fast": 790.2, "ema_slow": 785.3, "rsi": 61.25, "macd": 3.21346, "macd_signal": 2.5,
            "bb_upper": 820.0, "bb_lower": 760.0, **kw}


def evaluation(rule: str, trades: int, total: float, **kw: object) -> dict:
    return {"symbol": "GOOG", "timeframe": "1d", "rule": rule, "window_end": END, "first_ts": END - 4000 * DAY,
            "last_ts": END - DAY, "fee_bps": 10.0, "trades": trades, "win_rate": 0.5, "mean_trade_return": 0.07712,
            "total_return": total, "bh_total_return": 7.0249, **kw}


def forecast(**kw: object) -> dict:
    return {"symbol": "GOOG", "as_of": END - 2 * DAY, "target": "close", "step": 7, "ts": END + 7 * DAY,
            "model": "naive", "forecast": 801.2345, "lo_80": 780.05, "hi_80": 830.249, "lo_95": 766.0, "hi_95": 845.3,
            "mase": 2.35049, "naive_mase": 2.35049, "beats_naive": False, **kw}


def signal(rule: str, side: str) -> dict:
    return {"symbol": "GOOG", "timeframe": "1d", "ts": END - 30 * DAY, "rule": rule, "side": side, "price": 700.1234}


NEWS = {"symbol": "GOOG", "start": END - DAY, "end": END, "count": 5, "mean_score": -0.1249}
FULL = Evidence("GOOG", "1d", END, bar(), [signal("ema_cross", "BUY"), signal("rsi", "SELL")],
                [evaluation("ema_cross", 24, 4.64), evaluation("rsi", 9, 8.1)], forecast(), NEWS)


def text_and_facts(evidence: Evidence, policy: Policy = Policy()) -> tuple[str, dict]:
    facts = facts_of(evidence, policy)
    text = template_text(facts)
    assert unsupported_numbers(text, facts) == []  # whatever the evidence, the text invents no number
    return text, facts


def test_rounding_is_done_once_and_the_text_writes_the_rounded_facts() -> None:
    assert [shown(v, "price") for v in (801.2345, 1.071234, 0.000123456, 45231.5, 0.0)] == [
        801.23, 1.0712, 0.00012346, 45231.5, 0.0]
    assert (shown(0.5 * 100, "pct"), shown(2.35049, "mase"), shown(-0.1249, "score"), shown(61.25, "rsi")) == (
        50.0, 2.35, -0.12, 61.2)
    assert shown(-0.0001, "pct") == 0.0 and str(shown(-0.0001, "pct")) == "0.0"  # no "-0.0"
    assert shown(float("nan"), "price") is None and shown(None, "pct") is None
    assert write(0.00012346) == "0.00012346" and write(464.0) == "464.0" and write(7) == "7"

    text, facts = text_and_facts(FULL)
    ind, ema = facts["indicators"], facts["signals"][0]["evaluation"]
    assert (ind["close"], ind["sma"], ind["macd"], ind["rsi"], ind["bollinger_position_pct"]) == (
        801.23, 780.12, 3.2135, 61.2, 68.7)
    assert (ema["win_rate_pct"], ema["mean_trade_return_pct"], ema["total_return_pct"], ema["bh_total_return_pct"]) == (
        50.0, 7.7, 464.0, 702.5)
    assert "Close 801.23 on 2013-02-28. RSI 61.2 (neutral)." in text
    assert "The close is above its SMA (780.12). MACD 3.2135 is above its signal line (2.5)." in text
    assert ("ema_cross last said BUY on 2013-01-31 at 700.12; followed from 2002-03-20 to 2013-03-01 it closed 24 "
            "trades, won 50.0% of them, +7.7% per trade after fees, +464.0% in all: worse than buy-and-hold "
            "(+702.5%).") in text
    assert "News: 5 items in the last 24 h, mean sentiment -0.12 on a scale from -1 to 1." in text
    assert facts["indicators"]["source"] == {"table": "bars", "key": {"symbol": "GOOG", "timeframe": "1d",
                                                                      "ts": "2013-02-28T00:00:00+00:00"}}


def test_weight_words_follow_the_evidence() -> None:
    text, facts = text_and_facts(FULL)
    assert "rsi last said SELL on 2013-01-31 at 700.12; followed from 2002-03-20 to 2013-03-01 it closed 9 trades: " \
           "too few trades to judge (fewer than 10)." in text
    assert ("The 7-day close forecast for 2013-03-09 is 801.23 (80%: 780.05 to 830.25; 95%: 766.0 to 845.3), by naive "
            "from the daily candles up to 2013-02-28; the forecast is no better than assuming no change (MASE 2.35, "
            "naive 2.35).") in text
    assert text.endswith("Weight: little; against it: no rule beat buy-and-hold on enough trades, the forecast is no "
                         "better than assuming no change.")
    assert facts["summary"]["weight"] == "little"

    # a rule judged on enough trades that beat buy-and-hold: some; and a forecast that beat naive: fair
    better = replace(FULL, evaluations=[evaluation("ema_cross", 24, 9.5), evaluation("rsi", 9, 8.1)])
    text, facts = text_and_facts(better)
    assert facts["summary"] == {"weight": "some", "for": ["ema_cross beat buy-and-hold on enough trades"],
                                "against": ["the forecast is no better than assuming no change"]}
    assert "+950.0% in all: better than buy-and-hold (+702.5%)." in text
    narrow = replace(better, forecast=forecast(model="drift", forecast=806.5, mase=2.318, beats_naive=True))
    text, facts = text_and_facts(narrow)  # 1.4% better than naive: not evidence
    assert facts["summary"]["weight"] == "some" and facts["summary"]["against"] == [
        "the forecast beat naive only narrowly"]
    assert ("by drift from the daily candles up to 2013-02-28; it beat naive only narrowly in cross-validation (MASE "
            "2.318 against 2.35, less than 10% better): little better than assuming no change.") in text
    skilled = replace(better, forecast=forecast(model="theta", forecast=806.5, mase=1.9, beats_naive=True))
    text, facts = text_and_facts(skilled)
    assert facts["summary"]["weight"] == "fair" and "it beat naive in cross-validation (MASE 1.9 against 2.35)" in text
    assert text.endswith("Weight: fair; for it: ema_cross beat buy-and-hold on enough trades, the forecast beat naive.")
    # the same evidence with a stricter trade count: too few to judge, little
    text, facts = text_and_facts(skilled, Policy(min_trades=30))
    assert facts["summary"]["weight"] == "some" and "no rule has enough trades to judge" in text
    assert "closed 24 trades: too few trades to judge (fewer than 30)." in text


def test_stale_and_missing_parts_are_said() -> None:
    old = replace(FULL, bar=bar(ts=END - 10 * DAY), forecast=forecast(as_of=END - 10 * DAY, mase=1.5, beats_naive=True))
    text, facts = text_and_facts(old)
    assert "Close 801.23 on 2013-02-20, older than 4 days: stale data." in text
    assert "made more than 4 days ago: stale." in text
    assert facts["summary"] == {"weight": "little", "for": [], "against": [
        "the newest bar is stale", "no rule beat buy-and-hold on enough trades", "the forecast is stale"]}

    bare = Evidence("AAPL", "5m", END, bar(symbol="AAPL", timeframe="5m", ts=END - timedelta(minutes=5), sma=None,
                                           rsi=None, macd=None, macd_signal=None, bb_upper=None, bb_lower=None),
                    news={**NEWS, "count": 0, "mean_score": None})
    text, facts = text_and_facts(bare)
    assert text == ("AAPL (5m candles), as of 2013-03-02. Close 801.23 on 2013-03-01 23:55 UTC. Too few bars yet "
                    "for the indicators. No signal is stored. No forecast is stored. No news sentiment in the last "
                    "24 h. Weight: little; against it: no rule has enough trades to judge, there is no forecast.")
    assert facts["forecast"] is None and facts["signals"] == [] and facts["news"]["items"] == 0

    unevaluated = replace(FULL, evaluations=[], news={**NEWS, "count": 2, "mean_score": 0.31})
    text, _ = text_and_facts(unevaluated)
    assert "ema_cross last said BUY on 2013-01-31 at 700.12; not evaluated yet." in text
    assert "News: 2 items in the last 24 h, mean sentiment +0.31 on a scale from -1 to 1: too few to mean much " \
           "(fewer than 3)." in text
    raw = replace(FULL, timeframe="raw", bar=bar(timeframe="raw", ts=END - timedelta(seconds=53)))
    assert "GOOG (base bars), as of 2013-03-02. Close 801.23 on 2013-03-01 23:59:07 UTC." in text_and_facts(raw)[0]


@pytest.mark.parametrize(("text", "numbers"), [
    ("a 7-day forecast", {"7"}),
    ("the 80% interval", {"80"}),
    ("fell -1.5% or −2.25", {"1.5", "2.25"}),
    ("volume 1,234.5 and 1,234,567", {"1234.5", "1234567"}),
    ("on 2013-02-28 at 14:05 UTC, or 09:30:15", {"2013-02-28", "14:05", "09:30:15"}),
    ("between 780-830", {"780", "830"}),
    ("464.0% and 464", {"464"}),
    ("0.50 or .5", {"0.5"}),
    ("1d and 5m candles", {"1", "5"}),
    ("no digits at all", set()),
])
def test_what_counts_as_a_number(text: str, numbers: set[str]) -> None:
    assert numbers_in(text) == numbers


def test_the_check_accepts_the_facts_numbers_and_names_invented_ones() -> None:
    facts = facts_of(FULL, Policy())
    assert {"801.23", "7", "80", "95", "24", "2013-02-28", "10", "1"} <= fact_numbers(facts)
    assert unsupported_numbers("GOOG closed at 801.23 on 2013-02-28; a 7-day forecast of 801.23 (80%).", facts) == []
    assert unsupported_numbers("GOOG may reach 900 by 2013-04-01, up 12.5%.", facts) == ["12.5", "2013-04-01", "900"]
