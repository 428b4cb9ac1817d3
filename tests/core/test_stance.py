"""What a trader reads first (services/core/stance.py): the stance the facts support and the facts
that decide it, freshness, the freshest signal and the forecast against naive, every number one of
the facts'."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from test_recommendation import DAY, END, FULL, bar, evaluation, forecast, signal

from services.core.recommendation import Evidence, Policy, facts_of, unsupported_numbers
from services.core.stance import glance_of


def glance(evidence: Evidence) -> dict:
    facts = facts_of(evidence, Policy())
    seen = glance_of(facts)
    words = " ".join([seen["stance_text"], *seen["deciding"], seen["freshness"], seen["freshest_signal"] or "",
                      seen["forecast_vs_naive"]])
    assert unsupported_numbers(words, facts) == []  # whatever the evidence, the glance invents no number
    return seen


def test_no_evidence_that_counts_no_stance_and_the_reasons_why() -> None:
    seen = glance(FULL)  # ema_cross lost to buy-and-hold, rsi too few trades, the forecast is naive's
    assert seen == {
        "stance": None, "stance_text": "no stance",
        "deciding": ["no rule beat buy-and-hold on enough trades", "the forecast is no better than assuming no change"],
        "freshness": "newest bar 2013-02-28; as of 2013-03-02", "stale": False,
        "freshest_signal": "BUY 2013-01-31 at 700.12 (ema_cross)",  # both on the same day: the first rule's
        "forecast_vs_naive": "no better than naive: MASE 2.35 vs 2.35"}


def test_a_rule_that_counts_takes_the_side_of_its_newest_signal() -> None:
    better = replace(FULL, signals=[signal("ema_cross", "SELL"), {**signal("rsi", "BUY"), "ts": END - 3 * DAY}],
                     evaluations=[evaluation("ema_cross", 24, 9.5), evaluation("rsi", 9, 8.1)])
    seen = glance(better)
    assert seen["stance"] == "SELL" and seen["stance_text"] == "SELL"
    assert seen["deciding"] == ["ema_cross said SELL on 2013-01-31 at 700.12, and beat buy-and-hold over 24 trades "
                                "(+950.0% against +702.5%)"]
    assert seen["freshest_signal"] == "BUY 2013-02-27 at 700.12 (rsi)"  # newest, though it does not count

    # a forecast that clearly beat naive, above the close: BUY, against the rule's SELL: no stance
    up = replace(better, forecast=forecast(model="theta", forecast=830.5, mase=1.9, beats_naive=True))
    seen = glance(up)
    assert seen["stance"] is None and seen["deciding"] == [
        "the evidence disagrees: the 7-day forecast 830.5 is above the close 801.23, by theta, which beat naive "
        "(MASE 1.9 against 2.35)",
        "ema_cross said SELL on 2013-01-31 at 700.12, and beat buy-and-hold over 24 trades (+950.0% against +702.5%)"]
    assert seen["forecast_vs_naive"] == "beats naive: MASE 1.9 vs 2.35"
    # below the close: both say SELL, both decide it
    down = replace(up, forecast=forecast(model="theta", forecast=790.0, mase=1.9, beats_naive=True))
    seen = glance(down)
    assert seen["stance"] == "SELL" and len(seen["deciding"]) == 2
    assert seen["deciding"][1].startswith("the 7-day forecast 790.0 is below the close 801.23")


def test_a_narrow_or_stale_forecast_and_stale_bars_take_no_side() -> None:
    narrow = replace(FULL, forecast=forecast(model="drift", forecast=830.5, mase=2.318, beats_naive=True))
    seen = glance(narrow)
    assert seen["stance"] is None and seen["forecast_vs_naive"] == "beats naive only narrowly: MASE 2.318 vs 2.35"
    old_forecast = replace(FULL, forecast=forecast(as_of=END - 10 * DAY, forecast=830.5, mase=1.5, beats_naive=True))
    seen = glance(old_forecast)
    assert seen["stance"] is None and seen["forecast_vs_naive"] == "beats naive: MASE 1.5 vs 2.35; stale"

    counts = replace(FULL, evaluations=[evaluation("ema_cross", 24, 9.5)])
    assert glance(counts)["stance"] == "BUY"
    stale = replace(counts, bar=bar(ts=END - 10 * DAY))
    seen = glance(stale)
    assert seen["stance"] is None and seen["stale"] is True
    assert seen["deciding"] == ["the newest bar is stale", "the forecast is no better than assuming no change"]
    assert seen["freshness"] == "stale (older than 4 days): newest bar 2013-02-20; as of 2013-03-02"


def test_nothing_stored_but_a_bar() -> None:
    bare = Evidence("AAPL", "5m", END, bar(symbol="AAPL", timeframe="5m", ts=END - timedelta(minutes=5)))
    seen = glance(bare)
    assert seen == {"stance": None, "stance_text": "no stance",
                    "deciding": ["no rule has enough trades to judge", "there is no forecast"],
                    "freshness": "newest bar 2013-03-01 23:55 UTC; as of 2013-03-02", "stale": False,
                    "freshest_signal": None, "forecast_vs_naive": "no forecast"}
    assert glance(Evidence("AAPL", "5m", END))["freshness"] == "no bar stored; as of 2013-03-02"
