"""IndicatorValues: one bar's values as a NamedTuple, and the column names taken from it."""

from __future__ import annotations

import pytest
from indicator_data import random_walk, stream

from services.core.indicators import INDICATOR_COLUMNS, IndicatorValues


def test_indicator_columns_are_the_value_fields_in_order():
    assert INDICATOR_COLUMNS == (
        "sma", "ema_fast", "ema_slow", "rsi", "macd", "macd_signal", "macd_hist", "bb_middle", "bb_upper", "bb_lower",
    )  # fmt: skip


def test_values_are_frozen_named_tuples():
    row = stream(random_walk(54, 10.0, 0.01, 40))[-1]
    assert type(row) is IndicatorValues
    with pytest.raises(AttributeError):
        row.sma = 1.0
    same = IndicatorValues(*(getattr(row, name) for name in INDICATOR_COLUMNS))
    assert row == same and hash(row) == hash(same)


def test_values_as_a_dict_and_back():
    row = stream(random_walk(55, 10.0, 0.01, 40))[-1]
    as_dict = row._asdict()
    assert list(as_dict) == list(INDICATOR_COLUMNS)
    assert as_dict["sma"] == row.sma and as_dict["rsi"] == row.rsi
    assert IndicatorValues(**as_dict) == row
