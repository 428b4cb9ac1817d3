"""IndicatorEngine.to_state / from_state: round trips, and states saved by earlier releases."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from indicator_data import NON_DEFAULT, random_walk, stream

from services.core.indicators import IndicatorEngine, IndicatorParams


def _only_json_types(obj) -> bool:
    if obj is None or type(obj) in (int, float):
        return True
    if type(obj) is list:
        return all(_only_json_types(v) for v in obj)
    if type(obj) is dict:
        return all(type(k) is str and _only_json_types(v) for k, v in obj.items())
    return False


@pytest.mark.parametrize("codec", ["json", "orjson"])
@pytest.mark.parametrize("params", [IndicatorParams(), NON_DEFAULT], ids=["default", "non-default"])
def test_state_round_trip_continues_bit_identically(codec, params):
    closes = random_walk(61, 120.0, 0.01, 5000)
    uninterrupted = stream(closes, params)

    engine = IndicatorEngine(params)
    for c in closes[:3000]:
        engine.update(c)
    state = engine.to_state()
    assert _only_json_types(state)
    if codec == "json":
        restored_state = json.loads(json.dumps(state))
    else:
        restored_state = orjson.loads(orjson.dumps(state))
    assert restored_state == state
    restored = IndicatorEngine.from_state(restored_state, params)
    continued = [restored.update(c) for c in closes[3000:]]

    assert len(continued) == 2000
    assert continued == uninterrupted[3000:]  # bit-identical floats, same None positions


@pytest.mark.parametrize("split", [0, 1, 5, 12, 19, 25, 33, 40])
def test_state_round_trip_during_warm_up(split):
    for params in (IndicatorParams(), NON_DEFAULT):
        closes = random_walk(62, 9.0, 0.02, 120)
        uninterrupted = stream(closes, params)
        engine = IndicatorEngine(params)
        for c in closes[:split]:
            engine.update(c)
        restored = IndicatorEngine.from_state(json.loads(json.dumps(engine.to_state())), params)
        assert [restored.update(c) for c in closes[split:]] == uninterrupted[split:]


def test_state_is_a_snapshot():
    closes = random_walk(63, 15.0, 0.01, 300)
    engine = IndicatorEngine()
    for c in closes[:200]:
        engine.update(c)
    state = engine.to_state()
    frozen = json.dumps(state)
    for c in closes[200:]:
        engine.update(c)
    assert json.dumps(state) == frozen


def test_from_state_rejects_mismatched_params_and_versions():
    engine = IndicatorEngine()
    for c in random_walk(64, 15.0, 0.01, 50):
        engine.update(c)
    state = engine.to_state()
    with pytest.raises(ValueError, match="params"):
        IndicatorEngine.from_state(state, NON_DEFAULT)
    with pytest.raises(ValueError, match="version"):
        IndicatorEngine.from_state({**state, "version": 999}, IndicatorParams())
    with pytest.raises(ValueError):
        IndicatorEngine.from_state({k: v for k, v in state.items() if k != "rsi"}, IndicatorParams())


# States written by services/core/indicators.py before it became a package, with what that code
# computed after them: symbol_state rows in PostgreSQL hold exactly such JSON.
SAVED_V1 = json.loads((Path(__file__).parent / "saved_state_v1.json").read_text())


@pytest.mark.parametrize("case", SAVED_V1["engines"], ids=[c["name"] for c in SAVED_V1["engines"]])
def test_a_state_saved_by_the_old_module_continues_bit_identically(case):
    params = IndicatorParams(**case["params"])
    engine = IndicatorEngine.from_state(case["engine_state"], params)
    continued = [list(engine.update(c)) for c in SAVED_V1["closes"][case["saved_after"]:]]
    assert continued == case["continuation"]  # floats compared exactly, None positions included
    # and the engine saves the same format again
    replayed = IndicatorEngine(params)
    for c in SAVED_V1["closes"][: case["saved_after"]]:
        replayed.update(c)
    assert replayed.to_state() == case["engine_state"]
