"""Signal rules: streaming detect_signals on hand-made series, and against the vectorised batch version."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from services.core.indicators import INDICATOR_COLUMNS, IndicatorEngine, IndicatorValues
from services.core.reference import SIGNAL_COLUMNS, compute_indicators, compute_signals
from services.core.signals import DOWN, RULE_TABLE, RULES, UP, Signal, SignalRules, crossing, detect_signals


def values(**fields) -> IndicatorValues:
    return IndicatorValues(**{name: fields.get(name) for name in INDICATOR_COLUMNS})


def run(series: list[IndicatorValues], rules: SignalRules = SignalRules()) -> list[tuple[int, str, str, float, float]]:
    """detect_signals over consecutive bars -> (bar, rule, side, value, reference)."""
    out = []
    prev = None
    for i, cur in enumerate(series):
        out.extend((i, s.rule, s.side, s.value, s.reference) for s in detect_signals(prev, cur, rules))
        prev = cur
    return out


def frame_of(series: list[IndicatorValues]) -> pd.DataFrame:
    return pd.DataFrame(
        [[math.nan if getattr(v, c) is None else getattr(v, c) for c in INDICATOR_COLUMNS] for v in series],
        columns=list(INDICATOR_COLUMNS),
        dtype=np.float64,
    )


def batch_rows(frame: pd.DataFrame, rules: SignalRules = SignalRules()) -> list[tuple[int, str, str, float, float]]:
    result = compute_signals(frame, rules)
    assert list(result.columns) == list(SIGNAL_COLUMNS)
    return [
        (int(p), str(r), str(s), float(v), float(ref))
        for p, r, s, v, ref in result[list(SIGNAL_COLUMNS)].itertuples(index=False, name=None)
    ]


# --------------------------------------------------------------------------- the crossing helper


@pytest.mark.parametrize(
    ("prev_value", "prev_ref", "cur_value", "cur_ref", "expected"),
    [
        (1.0, 2.0, 3.0, 2.0, UP),
        (2.0, 2.0, 3.0, 2.0, UP),  # touching before counts as "at or below"
        (1.0, 2.0, 2.0, 2.0, 0),  # touching now is no crossing yet
        (3.0, 2.0, 1.0, 2.0, DOWN),
        (2.0, 2.0, 1.0, 2.0, DOWN),
        (3.0, 2.0, 2.0, 2.0, 0),
        (3.0, 2.0, 4.0, 2.0, 0),
        (1.0, 2.0, 0.5, 2.0, 0),
        (1.0, 5.0, 3.0, 2.0, UP),  # both sides move
        (None, 2.0, 3.0, 2.0, 0),
        (1.0, None, 3.0, 2.0, 0),
        (1.0, 2.0, None, 2.0, 0),
        (1.0, 2.0, 3.0, None, 0),
        (math.nan, 2.0, 3.0, 2.0, 0),
    ],
)
def test_crossing(prev_value, prev_ref, cur_value, cur_ref, expected):
    assert crossing(prev_value, prev_ref, cur_value, cur_ref) == expected


# --------------------------------------------------------------------------- hand-made series

RSI_SERIES = [values(rsi=r)
              for r in (None, 40.0, 30.0, 29.9, 25.0, 31.0, 29.0, 71.0, 70.0, 70.5, 69.0, 75.0, None, 20.0)]
RSI_EXPECTED = [
    (3, "rsi", "BUY", 29.9, 30.0),  # 30 -> 29.9: prev >= 30 and cur < 30
    (6, "rsi", "BUY", 29.0, 30.0),
    (7, "rsi", "SELL", 71.0, 70.0),  # 29 -> 71: only the overbought crossing
    (9, "rsi", "SELL", 70.5, 70.0),  # 70 -> 70.5: prev <= 70 and cur > 70
    (11, "rsi", "SELL", 75.0, 70.0),
]

EMA_SERIES = [
    values(ema_fast=f, ema_slow=s)
    for f, s in ((1.0, 2.0), (2.0, 2.0), (3.0, 2.0), (3.0, 2.5), (2.0, 2.5), (2.0, 2.0), (1.0, 2.0), (None, 2.0),
                 (3.0, 2.0), (1.5, 2.0))
]
EMA_EXPECTED = [
    (2, "ema_cross", "BUY", 3.0, 2.0),  # diff 0 -> 1
    (4, "ema_cross", "SELL", 2.0, 2.5),  # diff 0.5 -> -0.5
    (6, "ema_cross", "SELL", 1.0, 2.0),  # diff 0 -> -1
    (9, "ema_cross", "SELL", 1.5, 2.0),  # bar 8 follows a None, bar 9 is a real crossing
]

MACD_SERIES = [
    values(macd=m, macd_signal=s)
    for m, s in ((0.5, None), (-0.2, 0.1), (0.3, 0.1), (0.2, 0.15), (-0.1, 0.1), (-0.1, -0.1), (0.0, -0.05),
                 (-0.3, -0.1), (-0.2, -0.2), (-0.1, -0.2))
]
MACD_EXPECTED = [
    (2, "macd_cross", "BUY", 0.3, 0.1),
    (4, "macd_cross", "SELL", -0.1, 0.1),
    (6, "macd_cross", "BUY", 0.0, -0.05),  # diff 0 -> 0.05
    (7, "macd_cross", "SELL", -0.3, -0.1),
    (9, "macd_cross", "BUY", -0.1, -0.2),  # diff 0 -> 0.1
]


@pytest.mark.parametrize(
    ("series", "expected"),
    [(RSI_SERIES, RSI_EXPECTED), (EMA_SERIES, EMA_EXPECTED), (MACD_SERIES, MACD_EXPECTED)],
    ids=["rsi", "ema_cross", "macd_cross"],
)
def test_hand_made_crossings(series, expected):
    assert run(series) == expected
    # the vectorised batch version finds exactly the same signals
    assert batch_rows(frame_of(series)) == expected


def test_custom_rsi_thresholds():
    series = [values(rsi=r) for r in (50.0, 25.0, 19.0, 50.0, 79.0, 81.0)]
    rules = SignalRules(rsi_oversold=20.0, rsi_overbought=80.0)
    expected = [(2, "rsi", "BUY", 19.0, 20.0), (5, "rsi", "SELL", 81.0, 80.0)]
    assert run(series, rules) == expected
    assert batch_rows(frame_of(series), rules) == expected
    assert run(series) == [(1, "rsi", "BUY", 25.0, 30.0), (4, "rsi", "SELL", 79.0, 70.0)]


def test_no_signal_without_a_previous_bar():
    cur = values(rsi=10.0, ema_fast=2.0, ema_slow=1.0, macd=1.0, macd_signal=0.0)
    assert detect_signals(None, cur) == []
    empty = values()
    assert detect_signals(empty, cur) == []  # previous bar had no values yet
    assert detect_signals(cur, empty) == []


def test_all_rules_on_one_bar_in_rule_order():
    prev = values(rsi=35.0, ema_fast=1.0, ema_slow=2.0, macd=0.5, macd_signal=0.1)
    cur = values(rsi=28.0, ema_fast=3.0, ema_slow=2.0, macd=-0.5, macd_signal=0.0)
    signals = detect_signals(prev, cur)
    assert signals == [
        Signal("rsi", "BUY", 28.0, 30.0),
        Signal("ema_cross", "BUY", 3.0, 2.0),
        Signal("macd_cross", "SELL", -0.5, 0.0),
    ]
    assert batch_rows(frame_of([prev, cur])) == [(1, s.rule, s.side, s.value, s.reference) for s in signals]


# --------------------------------------------------------------------------- streaming == batch on random walks

SYMBOLS = [(71, 10.0, 0.02), (72, 150.0, 0.01), (73, 3000.0, 0.004), (74, 0.75, 0.03), (75, 42_000.0, 0.008)]


@pytest.mark.parametrize(("seed", "start", "vol"), SYMBOLS)
def test_streaming_signals_equal_batch_signals(seed, start, vol):
    rng = np.random.default_rng(seed)
    closes = (start * np.exp(np.cumsum(rng.normal(0.0, vol, 6000)))).tolist()

    engine = IndicatorEngine()
    streamed = run([engine.update(c) for c in closes])
    batch = batch_rows(compute_indicators(pd.Series(closes)))

    assert [(p, r, s) for p, r, s, _, _ in streamed] == [(p, r, s) for p, r, s, _, _ in batch]
    for (_, _, _, value, reference), (_, _, _, b_value, b_reference) in zip(streamed, batch, strict=True):
        assert abs(value - b_value) <= 1e-9 * max(1.0, abs(b_value))
        assert abs(reference - b_reference) <= 1e-9 * max(1.0, abs(b_reference))
    # the comparison is not vacuous: every rule fires both ways on 6,000 bars
    fired = {(r, s) for _, r, s, _, _ in streamed}
    assert fired == {(r, s) for r in ("rsi", "ema_cross", "macd_cross") for s in ("BUY", "SELL")}
    assert len(streamed) > 100
    # signals come ordered by bar, then rule order
    order = {"rsi": 0, "ema_cross": 1, "macd_cross": 2}
    keys = [(p, order[r]) for p, r, _, _, _ in streamed]
    assert keys == sorted(keys)


def test_compute_signals_on_an_empty_frame():
    result = compute_signals(compute_indicators(pd.Series([], dtype=np.float64)))
    assert list(result.columns) == list(SIGNAL_COLUMNS)
    assert len(result) == 0


# --------------------------------------------------------------------------- the rule table and the rules' levels


def test_rule_table_names_real_fields_and_gives_the_rule_order():
    assert RULES == ("rsi", "ema_cross", "macd_cross")
    levels = set(SignalRules.__dataclass_fields__)
    for rule in RULE_TABLE:
        assert rule.value in INDICATOR_COLUMNS
        assert (rule.line is None) != (rule.threshold is None), rule
        assert rule.line in INDICATOR_COLUMNS if rule.line else rule.threshold in levels
        assert {rule.up, rule.down} <= {"BUY", "SELL", None} and (rule.up or rule.down)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rsi_oversold": -0.5}, "rsi_oversold must be between 0 and 100, got -0.5"),
        ({"rsi_overbought": 100.5}, "rsi_overbought must be between 0 and 100, got 100.5"),
        ({"rsi_oversold": math.nan}, "rsi_oversold must be a finite number, got nan"),
        ({"rsi_overbought": math.inf}, "rsi_overbought must be a finite number, got inf"),
        ({"rsi_oversold": "30"}, "rsi_oversold must be a finite number, got '30'"),
        ({"rsi_overbought": True}, "rsi_overbought must be a finite number, got True"),
        ({"rsi_oversold": 70.0, "rsi_overbought": 30.0},
         r"rsi_oversold \(70.0\) must be below rsi_overbought \(30.0\)"),
        ({"rsi_oversold": 50.0, "rsi_overbought": 50.0},
         r"rsi_oversold \(50.0\) must be below rsi_overbought \(50.0\)"),
    ],
)
def test_invalid_rsi_levels_are_refused_naming_the_field(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        SignalRules(**kwargs)


def test_rsi_levels_are_stored_as_plain_floats():
    rules = SignalRules(rsi_oversold=np.int64(0), rsi_overbought=100)
    assert (rules.rsi_oversold, rules.rsi_overbought) == (0.0, 100.0)
    assert type(rules.rsi_oversold) is float and type(rules.rsi_overbought) is float
    assert SignalRules(rsi_oversold=20, rsi_overbought=80) == SignalRules(rsi_oversold=20.0, rsi_overbought=80.0)
