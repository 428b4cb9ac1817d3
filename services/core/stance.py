"""What a trader reads first in a recommendation (README, "Recommendations"). Pure: no I/O.

`glance_of` takes the facts of one stored recommendation (`recommendation.facts_of`) and says, in a
few short strings, the stance the evidence supports, the one or two facts that decide it, how fresh
the data is, the freshest signal and how the forecast did against naive. It is read from the facts
alone, so every number it shows is one of the facts', written as they hold it (`write`), and rows
stored before it existed get one too.

The stance rule. Only evidence that counts takes a side, the same evidence that gives the weight
(`weight_of`): a rule judged on enough closed trades that beat buy-and-hold takes the side of its
newest signal, and a fresh forecast that clearly beat naive takes BUY when its close is above the
newest close, SELL when below. All of them on one side: that side. None, or some on each side: no
stance. A missing or stale newest bar gives no stance whatever else holds (the market has moved
on), as it gives the weight `little`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from services.core.recommendation import signed, write

NO_STANCE = "no stance"


def glance_of(facts: Mapping[str, Any]) -> dict[str, Any]:
    """The glance of one recommendation's facts (module docstring): `stance` ("BUY", "SELL" or None),
    `stance_text`, `deciding` (one or two short facts), `freshness`, `stale`, `freshest_signal` and
    `forecast_vs_naive` (strings for people)."""
    bar = facts["indicators"]
    votes = _votes(facts) if bar is not None and not bar["stale"] else []
    sides = {side for side, _ in votes}
    stance = sides.pop() if len(sides) == 1 else None
    if stance is not None:
        deciding = [words for _, words in votes][:2]
    elif votes:  # both sides: the first word of each
        deciding = [next(words for side, words in votes if side == s) for s in ("BUY", "SELL")]
        deciding[0] = "the evidence disagrees: " + deciding[0]
    else:
        deciding = list(facts["summary"]["against"][:2])
    return {"stance": stance, "stance_text": stance or NO_STANCE, "deciding": deciding,
            "freshness": _freshness(facts), "stale": bar is None or bool(bar["stale"]),
            "freshest_signal": _freshest_signal(facts["signals"]), "forecast_vs_naive": _forecast(facts["forecast"])}


def _votes(facts: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(side, the fact in words) for each piece of evidence that counts and takes a side."""
    votes = []
    for item in facts["signals"]:
        ev, latest = item["evaluation"], item["latest"]
        if ev and latest and ev["enough_trades"] and ev["beats_buy_and_hold"]:
            votes.append((latest["side"], f"{item['rule']} said {latest['side']} on {latest['date']} at "
                                          f"{write(latest['price'])}, and beat buy-and-hold over {ev['trades']} trades "
                                          f"({signed(ev['total_return_pct'])}% against "
                                          f"{signed(ev['bh_total_return_pct'])}%)"))
    fc, close = facts["forecast"], facts["indicators"]["close"]
    if fc and fc["clearly_beats_naive"] and not fc["stale"] and fc["close"] != close:
        side, where = ("BUY", "above") if fc["close"] > close else ("SELL", "below")
        votes.append((side, f"the {fc['horizon_days']}-day forecast {write(fc['close'])} is {where} the close "
                            f"{write(close)}, by {fc['model']}, which beat naive (MASE {write(fc['mase'])} against "
                            f"{write(fc['naive_mase'])})"))
    return votes


def _freshness(facts: Mapping[str, Any]) -> str:
    bar = facts["indicators"]
    if bar is None:
        return f"no bar stored; as of {facts['as_of']}"
    stale = f"stale (older than {facts['run']['stale_days']} days): " if bar["stale"] else ""
    return f"{stale}newest bar {bar['date']}; as of {facts['as_of']}"


def _freshest_signal(signals: list[Mapping[str, Any]]) -> str | None:
    latest = [s for s in signals if s["latest"]]
    if not latest:
        return None
    newest = max(latest, key=lambda s: datetime.fromisoformat(s["latest"]["source"]["key"]["ts"]))
    said = newest["latest"]
    return f"{said['side']} {said['date']} at {write(said['price'])} ({newest['rule']})"


def _forecast(fc: Mapping[str, Any] | None) -> str:
    if fc is None:
        return "no forecast"
    scores = f"MASE {write(fc['mase'])} vs {write(fc['naive_mase'])}"
    verdict = ("beats naive" if fc["clearly_beats_naive"] else "beats naive only narrowly" if fc["beats_naive"]
               else "no better than naive")
    return f"{verdict}: {scores}" + ("; stale" if fc["stale"] else "")
