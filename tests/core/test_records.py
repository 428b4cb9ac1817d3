"""Record validation: every rule, good and bad (README, "Ingest API")."""
from __future__ import annotations

import pytest

from services.core.records import (
    MAX_COUNT,
    MAX_PRICE,
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    EconomicIndicator,
    MarketData,
    NewsSentiment,
    OrderBook,
    Rejection,
    StockPrice,
    ValidationContext,
    validate_record,
)
from services.core.symbols import SymbolPolicy, compile_pattern

NOW = 1_767_225_600.0
CTX = ValidationContext(now=NOW, symbols=SymbolPolicy(frozenset({"AAPL", "MSFT"})), max_future_skew=300)

CANDLE = {"stock_symbol": "AAPL", "opening_price": 10.0, "closing_price": 11.0, "high": 12.0, "low": 9.5,
          "volume": 100, "timestamp": NOW - 1}
GOOD = {
    StockPrice: CANDLE,
    OrderBook: {"data_type": "order_book", "timestamp": NOW, "stock_symbol": "MSFT", "order_type": "sell",
                "price": 400.5, "quantity": 10},
    NewsSentiment: {"data_type": "news_sentiment", "timestamp": NOW, "stock_symbol": "AAPL",
                    "sentiment_score": -1.0, "sentiment_magnitude": 1.0},
    MarketData: {"data_type": "market_data", "timestamp": NOW, "stock_symbol": "AAPL", "market_cap": 3e12,
                 "pe_ratio": -12.5},
    EconomicIndicator: {"data_type": "economic_indicator", "timestamp": NOW, "indicator_name": "CPI",
                        "value": -0.4},
}


def errors_of(raw: object, ctx: ValidationContext = CTX) -> list[tuple[str, str]]:
    result = validate_record(raw, ctx)
    assert isinstance(result, Rejection), f"expected a rejection, got {result!r}"
    return [(e.field, e.message) for e in result.errors]


@pytest.mark.parametrize("model", list(GOOD))
def test_good_records_of_each_type(model: type) -> None:
    record = validate_record(GOOD[model], CTX)
    assert isinstance(record, model)
    payload = record.to_payload()
    assert payload == GOOD[model]  # the canonical payload is exactly the wire format


def test_stock_price_may_say_its_type_and_is_published_without_it() -> None:
    record = validate_record({**CANDLE, "data_type": "stock_price"}, CTX)
    assert isinstance(record, StockPrice) and record.to_payload() == CANDLE and record.key == "AAPL"


def test_economic_indicator_is_keyed_by_name() -> None:
    assert validate_record(GOOD[EconomicIndicator], CTX).key == "CPI"


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"high": 10.5}, "high", "below max(opening_price, closing_price)"),
        ({"low": 10.5}, "low", "above min(opening_price, closing_price)"),
        ({"opening_price": 0.0, "low": 0.0}, "opening_price", "greater than 0"),
        ({"closing_price": -1.0}, "closing_price", "greater than 0"),
        ({"volume": -1}, "volume", "greater than or equal to 0"),
        ({"volume": "1.5"}, "volume", "valid number"),
        ({"volume": True}, "volume", "valid number"),
        ({"volume": float("inf")}, "volume", "finite number"),
        ({"high": float("inf")}, "high", "finite number"),
        ({"low": float("nan")}, "low", "finite number"),
        ({"closing_price": "11.0"}, "closing_price", "valid number"),
        ({"stock_symbol": "ZZZ"}, "stock_symbol", "unknown symbol 'ZZZ'"),
        ({"timestamp": NOW + 301}, "timestamp", "301.000 s ahead of this server's clock; at most 300 s"),
        ({"timestamp": -2_208_988_801.0}, "timestamp", "greater than or equal to -2208988800"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"data_type": "stonks"}, "data_type", "unknown data_type 'stonks'"),
    ],
)
def test_candle_rules(change: dict, field: str, fragment: str) -> None:
    errs = errors_of({**CANDLE, **change})
    assert any(f == field and fragment in m for f, m in errs), errs


def test_missing_fields_are_named() -> None:
    raw = {k: v for k, v in CANDLE.items() if k not in ("low", "volume")}
    assert sorted(f for f, _ in errors_of(raw)) == ["low", "volume"]


@pytest.mark.parametrize(
    ("model", "change", "field"),
    [
        (OrderBook, {"order_type": "hold"}, "order_type"),
        (OrderBook, {"quantity": 0}, "quantity"),
        (NewsSentiment, {"sentiment_score": 1.5}, "sentiment_score"),
        (NewsSentiment, {"sentiment_magnitude": -0.1}, "sentiment_magnitude"),
        (MarketData, {"market_cap": 0.0}, "market_cap"),
        (EconomicIndicator, {"stock_symbol": "AAPL"}, "stock_symbol"),
        (EconomicIndicator, {"indicator_name": ""}, "indicator_name"),
    ],
)
def test_other_type_rules(model: type, change: dict, field: str) -> None:
    assert field in [f for f, _ in errors_of({**GOOD[model], **change})]


def test_symbol_list_is_optional_and_non_objects_are_refused() -> None:
    anything = ValidationContext(now=NOW)
    assert isinstance(validate_record({**CANDLE, "stock_symbol": "NVDA"}, anything), StockPrice)
    assert errors_of([CANDLE]) == [("record", "expected a JSON object, got list")]
    assert errors_of("AAPL")[0][0] == "record"


# -- the contract: what ingest accepts, the store can hold and the engine can compute ---------------

ECON = GOOD[EconomicIndicator]
ORDER = GOOD[OrderBook]


@pytest.mark.parametrize("name", ["GDP\x00x", "GDP\nx", "tab\there", "\x7f", "bell\x07"])
def test_text_with_control_characters_is_refused_naming_the_character(name: str) -> None:
    (field, message), = errors_of({**ECON, "indicator_name": name})
    assert field == "indicator_name"
    assert f"U+{ord(next(c for c in name if c < ' ' or c == chr(127))):04X}" in message


def test_text_may_hold_any_printable_unicode() -> None:
    record = validate_record({**ECON, "indicator_name": "Índice de precios ÿ 消费"}, CTX)
    assert isinstance(record, EconomicIndicator) and record.indicator_name == "Índice de precios ÿ 消费"


@pytest.mark.parametrize("raw, field", [
    ({**CANDLE, "volume": 9223372036854775808}, "volume"),   # beyond bigint: PostgreSQL would refuse it
    ({**CANDLE, "volume": MAX_COUNT + 1}, "volume"),
    ({**ORDER, "quantity": 9223372036854775808}, "quantity"),
])
def test_integers_beyond_the_exact_float_range_are_refused(raw: dict, field: str) -> None:
    assert [f for f, _ in errors_of(raw)] == [field]


def test_integers_at_the_bound_are_accepted() -> None:
    assert validate_record({**CANDLE, "volume": MAX_COUNT}, CTX).volume == MAX_COUNT
    assert validate_record({**ORDER, "quantity": MAX_COUNT}, CTX).quantity == MAX_COUNT


@pytest.mark.parametrize("price", [1.4e154, 1e308, MAX_PRICE * 1.0000001])
def test_prices_whose_squares_could_overflow_an_indicator_are_refused(price: float) -> None:
    fields = {f for f, _ in errors_of({**CANDLE, "opening_price": price, "closing_price": price, "high": price,
                                       "low": price})}
    assert fields == {"opening_price", "closing_price", "high", "low"}
    assert [f for f, _ in errors_of({**ORDER, "price": price})] == ["price"]


def test_the_largest_and_smallest_prices_keep_every_indicator_finite() -> None:
    import math

    from services.core.indicators import INDICATOR_COLUMNS, IndicatorParams
    from services.core.signals import SignalRules
    from services.core.stream import SymbolStream

    stream = SymbolStream("AAPL", IndicatorParams(), SignalRules())
    for i, price in enumerate([MAX_PRICE, 5e-324, MAX_PRICE] * 20):
        bar = validate_record({**CANDLE, "opening_price": price, "closing_price": price, "high": price,
                               "low": price, "timestamp": NOW - 100 + i}, CTX)
        applied = stream.apply(bar)
    values = [getattr(applied.values, c) for c in INDICATOR_COLUMNS]
    assert all(v is None or math.isfinite(v) for v in values), values
    restored = SymbolStream.from_state("AAPL", stream.to_state(), IndicatorParams(), SignalRules())
    assert restored.to_state() == stream.to_state()


@pytest.mark.parametrize("ts, fragment", [
    (MAX_TIMESTAMP + 1, "less than or equal to"),
    (MIN_TIMESTAMP - 0.5, "greater than or equal to"),
])
def test_timestamps_outside_what_timestamptz_and_datetime_hold_are_refused(ts: float, fragment: str) -> None:
    (field, message), = errors_of({**ECON, "timestamp": ts}, ValidationContext(now=MAX_TIMESTAMP * 2))
    assert field == "timestamp" and fragment in message


def test_timestamps_are_kept_to_the_microsecond_postgresql_stores() -> None:
    record = validate_record({**CANDLE, "timestamp": NOW - 1 + 0.1234567}, CTX)
    assert record.timestamp == round(NOW - 1 + 0.1234567, 6)
    assert validate_record(record.to_payload(), CTX).timestamp == record.timestamp  # stable through Kafka


def test_error_texts_echoing_client_input_are_bounded() -> None:
    errs = errors_of({**CANDLE, "x" * 100_000: 1, "data_type": "stock_price"})
    assert len(errs) == 1 and len(errs[0][0]) < 200 and "100000 characters" in errs[0][0]
    (field, message), = errors_of({**CANDLE, "data_type": "y" * 100_000})
    assert field == "data_type" and len(message) < 300


# -- real instruments (README "Real market data") ------------------------------------------------------
REAL = ValidationContext(now=NOW,
                         symbols=SymbolPolicy(frozenset({"AAPL"}), compile_pattern(r"[A-Z]{1,5}|[A-Z]{3}/?USD")))


@pytest.mark.parametrize("change", [
    {"stock_symbol": "BTC/USD", "volume": 0.00012345},                       # crypto: fractional volume
    {"stock_symbol": "EURUSD", "opening_price": 1.0712, "closing_price": 1.0709, "high": 1.0715, "low": 1.0701},
    {"stock_symbol": "GOOG", "opening_price": 0.0004, "closing_price": 0.0005, "high": 0.0006, "low": 0.0003},
    {"stock_symbol": "GOOG", "timestamp": -631_152_000.0},                     # 1950: history
    {"stock_symbol": "GOOG", "timestamp": MIN_TIMESTAMP},
])
def test_real_instruments_fit_the_contract(change: dict) -> None:
    record = validate_record({**CANDLE, **change}, REAL)
    assert isinstance(record, StockPrice) and record.to_payload() == {**CANDLE, **change}
    assert validate_record(record.to_payload(), REAL) == record  # the same record on the processor's side


@pytest.mark.parametrize("symbol", ["BTC/USD/EUR", "/USD", "BTC/", "btc/usd", "BTC USD", "A" * 17, "BTC\\USD"])
def test_malformed_symbols_are_refused(symbol: str) -> None:
    assert [f for f, _ in errors_of({**CANDLE, "stock_symbol": symbol}, ValidationContext(now=NOW))] == ["stock_symbol"]


def test_symbols_outside_the_list_and_the_pattern_are_unknown() -> None:
    (field, message), = errors_of({**CANDLE, "stock_symbol": "DOGE/EUR"}, REAL)
    assert field == "stock_symbol" and "unknown symbol 'DOGE/EUR'" in message and "[A-Z]{3}/?USD" in message
    assert compile_pattern("") is None
    with pytest.raises(ValueError, match="not a regular expression"):
        compile_pattern("[A-Z")


def test_whole_volumes_stay_exact_as_numbers() -> None:
    record = validate_record({**CANDLE, "volume": MAX_COUNT}, CTX)
    assert record.volume == MAX_COUNT and int(record.volume) == MAX_COUNT
