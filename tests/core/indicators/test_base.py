"""The declared indicator interface: every indicator implements update / to_state / load_state."""

from __future__ import annotations

import json

import pytest
from indicator_data import random_walk

from services.core.indicators import Bollinger, Ema, Indicator, Macd, RollingWindow, Rsi, Sma

INDICATORS = {
    "ema": lambda: Ema(5),
    "wilder-ema": lambda: Ema.wilder(5),
    "rolling": lambda: RollingWindow(5),
    "sma": lambda: Sma(5),
    "bollinger": lambda: Bollinger(5, 2.0),
    "rsi": lambda: Rsi(5),
    "macd": lambda: Macd(3, 6, 4),
}


@pytest.mark.parametrize("make", INDICATORS.values(), ids=INDICATORS.keys())
def test_every_indicator_is_an_indicator_whose_state_continues_it(make):
    closes = random_walk(81, 20.0, 0.02, 60)
    straight, first = make(), make()
    assert isinstance(straight, Indicator)
    expected = [straight.update(c) for c in closes]
    for c in closes[:30]:
        first.update(c)
    second = make()
    second.load_state(json.loads(json.dumps(first.to_state())))
    assert [second.update(c) for c in closes[30:]] == expected[30:]


@pytest.mark.parametrize("make", INDICATORS.values(), ids=INDICATORS.keys())
def test_indicators_keep_their_state_in_slots(make):
    assert not hasattr(make(), "__dict__")


def test_an_indicator_must_implement_the_whole_interface():
    class Incomplete(Indicator):
        __slots__ = ()

        def update(self, x):
            return x

    with pytest.raises(TypeError, match="load_state"):
        Incomplete()


@pytest.mark.parametrize("make", INDICATORS.values(), ids=INDICATORS.keys())
def test_an_incomplete_state_is_refused_naming_what_is_missing(make):
    indicator = make()
    state = indicator.to_state()
    dropped = next(iter(state))
    with pytest.raises(ValueError, match=f"state lacks \\['{dropped}'\\]"):
        make().load_state({k: v for k, v in state.items() if k != dropped})
