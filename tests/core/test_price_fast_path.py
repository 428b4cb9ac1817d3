"""validate_record's path for candles (the model schema without its validator wrappers, then the
validators' own checks) decides exactly as StockPrice.model_validate does, on anything."""
from __future__ import annotations

from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.core.records import (
    PRICE_TYPE,
    FieldError,
    Rejection,
    StockPrice,
    ValidationContext,
    _field_errors,
    record_type_of,
    validate_record,
)
from services.core.symbols import SymbolPolicy

FIELDS = ("stock_symbol", "opening_price", "closing_price", "high", "low", "volume", "timestamp", "data_type")
NOW = 1_700_000_000.0


def by_the_model(raw: dict[str, Any], ctx: ValidationContext) -> StockPrice | Rejection:
    try:
        return StockPrice.model_validate(raw, context=ctx)
    except ValidationError as exc:
        return Rejection(_field_errors(exc))


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=1, max_value=200),
    st.integers(min_value=-10, max_value=2**60),
    st.booleans(),
    st.none(),
    st.sampled_from(["AAPL", "aapl", "BTC/USD", "A\x00B", "12.5", "stock_price", "", "X" * 17]),
    st.sampled_from([NOW, NOW + 0.0000004, NOW + 4.9, NOW + 6, -2_208_988_801.0, 253_402_300_800.0]),
)
near_valid = st.fixed_dictionaries({
    "stock_symbol": st.sampled_from(["AAPL", "MSFT", "BRK.B", "BTC/USD", "aapl", "A" * 17]),
    "opening_price": st.floats(min_value=90, max_value=110),
    "closing_price": st.floats(min_value=90, max_value=110),
    "high": st.floats(min_value=95, max_value=115),
    "low": st.floats(min_value=85, max_value=105),
    "volume": st.one_of(st.integers(min_value=-1, max_value=2**53), st.floats(min_value=0, max_value=1e6)),
    "timestamp": st.floats(min_value=NOW - 10, max_value=NOW + 10),
})
contexts = st.sampled_from([
    ValidationContext(now=None),
    ValidationContext(now=NOW),
    ValidationContext(now=NOW, symbols=SymbolPolicy(listed=frozenset({"AAPL", "MSFT"}))),
])


@st.composite
def candles(draw: st.DrawFn) -> dict[str, Any]:
    raw = dict(draw(near_valid))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):  # some fields changed or dropped
        if draw(st.booleans()):
            raw[name] = draw(values)
        else:
            raw.pop(name, None)
    if draw(st.integers(0, 9)) == 0:
        raw["extra"] = 1
    return raw


@settings(max_examples=1500, deadline=None)
@given(candles(), contexts)
def test_the_fast_path_decides_as_the_model(raw: dict[str, Any], ctx: ValidationContext) -> None:
    assume(record_type_of(raw) == PRICE_TYPE)  # any other data_type is refused before a model is chosen
    ours, theirs = validate_record(raw, ctx), by_the_model(raw, ctx)
    assert type(ours) is type(theirs)
    assert ours == theirs
    if isinstance(ours, StockPrice):
        assert isinstance(theirs, StockPrice)
        assert ours.__pydantic_fields_set__ == theirs.__pydantic_fields_set__
        assert ours.model_dump() == theirs.model_dump()
        assert ours.timestamp == round(raw["timestamp"], 6)


def test_both_kinds_of_outcome_are_exercised() -> None:
    """The property above is not vacuous: accepted, refused by a field rule, by a cross-field rule."""
    ctx = ValidationContext(now=NOW, symbols=SymbolPolicy(listed=frozenset({"AAPL"})))
    good = {"stock_symbol": "AAPL", "opening_price": 100.0, "closing_price": 101.0, "high": 102.0, "low": 99.0,
            "volume": 5, "timestamp": NOW - 1.0000004}
    accepted = validate_record(good, ctx)
    assert isinstance(accepted, StockPrice) and accepted.timestamp == NOW - 1.0 and accepted.volume == 5.0
    assert accepted == StockPrice.model_validate(good, context=ctx)
    assert validate_record({**good, "high": 100.5}, ctx) == Rejection(
        (FieldError("high", "100.5 is below max(opening_price, closing_price) = 101.0"),))
    assert validate_record({**good, "stock_symbol": "MSFT"}, ctx) == Rejection(
        (FieldError("stock_symbol", "unknown symbol 'MSFT' (known: AAPL)"),))
    ahead = validate_record({**good, "timestamp": NOW + 6}, ctx)
    assert isinstance(ahead, Rejection) and ahead.errors[0].field == "timestamp"
    assert validate_record({**good, "volume": "5"}, ctx) == by_the_model({**good, "volume": "5"}, ctx)
