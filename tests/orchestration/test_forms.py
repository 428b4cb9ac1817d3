"""The trigger form's symbols param: a strict choice, unless an allow-list pattern admits others."""
from __future__ import annotations

import pytest

from services.config import Settings
from services.orchestration.forms import symbols_param


def test_symbols_are_a_choice_among_the_configured_ones() -> None:
    param = symbols_param("recompute", Settings(symbol_pattern=""))
    assert param.resolve(["AAPL", "MSFT"]) == ["AAPL", "MSFT"] and param.resolve(None) is None
    with pytest.raises(Exception, match="'GOOG' is not one of"):
        param.resolve(["GOOG"])


def test_with_a_pattern_other_symbols_may_be_typed_and_the_plan_task_judges_them() -> None:
    param = symbols_param("recompute", Settings(symbol_pattern="[A-Z]{1,5}|[A-Z]{3}/USD"))
    assert param.resolve(["GOOG", "BTC/USD"]) == ["GOOG", "BTC/USD"]
    assert "others matching '[A-Z]{1,5}|[A-Z]{3}/USD'" in param.description
    with pytest.raises(Exception, match="is too long"):
        param.resolve(["X" * 17])
