"""The five record types Tickflow accepts, and the one validation rule set used everywhere.

Field names are a public contract (README, "Ingest API"). Validation is strict: numbers must be JSON
numbers (no "12.5" strings), integers must be integers, NaN/Infinity are refused, unknown
fields are refused by name, and values a market could not produce are refused with a reason.
Ingest and the processor both call `validate_record`, so a record means the same thing at
both ends of Kafka.

What is accepted must also be storable and computable (README "Ingest API"): text carries no
control characters (PostgreSQL text cannot hold NUL), counts stay at most 2^53 - 1 (exact as a
float64, within PostgreSQL's bigint), a candle's volume is any finite number from 0 to that bound
(fractional for crypto), prices stay within MAX_PRICE so every indicator (the Bollinger bands square
them, summed over the window) stays finite, and timestamps fall between 1900 and year 9999, which
timestamptz, pandas and Python's datetime all hold. Symbols follow services/core/symbols.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import SchemaValidator

from services.core.symbols import MAX_SYMBOL_LENGTH, SYMBOL_FORMAT, SymbolPolicy

PRICE_TYPE = "stock_price"

MAX_PRICE = 1e12  # far above any quoted price; its square summed over any window stays finite
MAX_COUNT = 2**53 - 1  # volumes and quantities: exact in float64 (pandas, JSON readers), < bigint max
MIN_TIMESTAMP = -2_208_988_800.0  # 1900-01-01T00:00:00Z: history older than any exchange's price data
MAX_TIMESTAMP = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last second Python's datetime holds
_CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f]")


# How far ahead of the clock that judges it a record's timestamp may be (README "Processing
# guarantees"). A real feed's bar is never from the future; clocks kept by NTP agree within
# milliseconds and a badly kept one drifts by a second or two. What the limit allows, one record can
# do: a candle stamped at the limit makes the genuine bars of its symbol for that long late.
DEFAULT_MAX_FUTURE_SKEW_S = 5.0


def too_far_ahead(timestamp: float, clock: float, max_skew: float, clock_name: str) -> str | None:
    """The one event-time rule: why `timestamp` is refused against `clock`, or None if it is not."""
    if timestamp <= clock + max_skew:
        return None
    return (f"timestamp: {timestamp:.6f} is {timestamp - clock:.3f} s ahead of {clock_name}; "
            f"at most {max_skew:g} s of clock skew is allowed")


@dataclass(frozen=True, slots=True)
class ValidationContext:
    """What validation needs from the outside world, passed in so this module stays pure."""

    # The clock that judges event time (too_far_ahead); None: the caller judges it itself (the
    # processor, against the time Kafka stamped on the message, which a replay sees unchanged).
    now: float | None
    symbols: SymbolPolicy = SymbolPolicy()  # the default accepts any well-formed symbol
    max_future_skew: float = DEFAULT_MAX_FUTURE_SKEW_S


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Rejection:
    errors: tuple[FieldError, ...] = field(default_factory=tuple)

    @property
    def reason(self) -> str:
        return "; ".join(f"{e.field}: {e.message}" for e in self.errors)


Symbol = Field(min_length=1, max_length=MAX_SYMBOL_LENGTH, pattern=f"^{SYMBOL_FORMAT.pattern}$")
Price = Field(gt=0, le=MAX_PRICE)


def _no_control_chars(text: str) -> str:
    found = _CONTROL_CHAR.search(text)
    if found:
        raise ValueError(f"contains the control character U+{ord(found.group()):04X} at index {found.start()} "
                         "(text fields may not hold control characters)")
    return text


Text = Annotated[str, AfterValidator(_no_control_chars)]



class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    record_type: ClassVar[str]
    key_field: ClassVar[str] = "stock_symbol"  # the field whose value is the Kafka partitioning key
    timestamp: float = Field(ge=MIN_TIMESTAMP, le=MAX_TIMESTAMP)

    @property
    def key(self) -> str:
        """The Kafka partitioning key: records of one key stay in order."""
        key: str = getattr(self, self.key_field)
        return key

    def to_payload(self) -> dict[str, Any]:
        """The canonical JSON object published to Kafka."""
        return self.model_dump()

    @model_validator(mode="after")
    def _check_context(self, info: ValidationInfo) -> "_Record":
        # Kept to the microsecond that timestamptz stores: two bars apart by less than a microsecond
        # would otherwise both be applied by the stream but stored as one row. (Done here, in a
        # validator every record runs anyway: a field validator of its own costs ~2 µs a record.)
        object.__setattr__(self, "timestamp", round(self.timestamp, 6))
        problem = _context_problem(self.timestamp, getattr(self, "stock_symbol", None), info.context)
        if problem:
            raise ValueError(problem)
        return self


def _context_problem(timestamp: float, symbol: str | None, ctx: object) -> str | None:
    """Why a record is refused by what the outside world says (its clock, the accepted symbols)."""
    if not isinstance(ctx, ValidationContext):
        return None
    if ctx.now is not None:
        ahead = too_far_ahead(timestamp, ctx.now, ctx.max_future_skew, "this server's clock")
        if ahead:
            return ahead
    if symbol is not None and not ctx.symbols.accepts(symbol):
        return f"stock_symbol: unknown symbol {symbol!r} ({ctx.symbols.describe()})"
    return None


def _candle_problem(opening: float, high: float, low: float, closing: float) -> str | None:
    """Why a candle's prices cannot be one candle's: high below, or low above, its open and close."""
    if high < max(opening, closing):
        return f"high: {high} is below max(opening_price, closing_price) = {max(opening, closing)}"
    if low > min(opening, closing):
        return f"low: {low} is above min(opening_price, closing_price) = {min(opening, closing)}"
    return None


class StockPrice(_Record):
    """One candle: an OHLCV price record. Carries no `data_type` on the wire, or `"stock_price"`."""

    record_type: ClassVar[str] = PRICE_TYPE
    stock_symbol: str = Symbol
    opening_price: float = Price
    closing_price: float = Price
    high: float = Price
    low: float = Price
    volume: float = Field(ge=0, le=MAX_COUNT)  # fractional for crypto; whole numbers stay exact
    data_type: Literal["stock_price"] | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _check_candle(self) -> "StockPrice":
        problem = _candle_problem(self.opening_price, self.high, self.low, self.closing_price)
        if problem:
            raise ValueError(problem)
        return self


class OrderBook(_Record):
    record_type: ClassVar[str] = "order_book"
    data_type: Literal["order_book"]
    stock_symbol: str = Symbol
    order_type: Literal["buy", "sell"]
    price: float = Price
    quantity: int = Field(gt=0, le=MAX_COUNT)


class NewsSentiment(_Record):
    record_type: ClassVar[str] = "news_sentiment"
    data_type: Literal["news_sentiment"]
    stock_symbol: str = Symbol
    sentiment_score: float = Field(ge=-1, le=1)
    sentiment_magnitude: float = Field(ge=0, le=1)


class MarketData(_Record):
    record_type: ClassVar[str] = "market_data"
    data_type: Literal["market_data"]
    stock_symbol: str = Symbol
    market_cap: float = Field(gt=0)
    pe_ratio: float


class EconomicIndicator(_Record):
    record_type: ClassVar[str] = "economic_indicator"
    data_type: Literal["economic_indicator"]
    key_field: ClassVar[str] = "indicator_name"
    indicator_name: Text = Field(min_length=1, max_length=64)
    value: float


Record = Union[StockPrice, OrderBook, NewsSentiment, MarketData, EconomicIndicator]

_MODELS: tuple[type[Record], ...] = (StockPrice, OrderBook, NewsSentiment, MarketData, EconomicIndicator)
RECORD_MODELS: dict[str, type[Record]] = {m.record_type: m for m in _MODELS}


def record_type_of(raw: dict[str, Any]) -> str | None:
    """The record type named by `data_type` (absent means a stock price); None if unknown."""
    name = raw.get("data_type", PRICE_TYPE)
    return name if isinstance(name, str) and name in RECORD_MODELS else None


def _field_errors(exc: ValidationError) -> tuple[FieldError, ...]:
    errors = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        message = err["msg"]
        if err["type"] == "value_error":
            # Our own cross-field rules say "field: reason"; pydantic prefixes "Value error, ".
            text = message.removeprefix("Value error, ")
            loc, _, message = text.partition(": ") if ": " in text else (loc or "record", "", text)
        errors.append(FieldError(_clip(loc or "record", 100), _clip(message, 300)))
    return tuple(errors)


def _clip(text: str, limit: int) -> str:
    """Error texts echo field names a client chose: bounded, so an answer stays small."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class _AcceptedPrices:
    """StockPrice's own rules, with its cross-field checks called directly: the prices' hot path.

    Every candle crosses validation twice (ingest, processor). pydantic calls each model validator
    through its Python wrapper (about 0.6 µs apiece here); the model schema under those wrappers
    (the same field rules, the same config, the instance made by pydantic) followed by the plain
    functions the validators themselves call costs a third less. Only acceptance is decided here: a
    refused candle goes through model_validate, so refusals read exactly as they always have.
    """

    def __init__(self) -> None:
        model: Any = StockPrice.__pydantic_core_schema__
        while model["type"] != "model":  # under the model validators' function-after wrappers
            model = model["schema"]
        self._model = SchemaValidator(model, model["config"])

    def __call__(self, raw: dict[str, Any], ctx: ValidationContext) -> StockPrice | None:
        """The candle if StockPrice accepts it, else None (then ask the model why)."""
        try:
            bar: StockPrice = self._model.validate_python(raw)
        except ValidationError:
            return None
        object.__setattr__(bar, "timestamp", round(bar.timestamp, 6))  # as _check_context does
        if (_context_problem(bar.timestamp, bar.stock_symbol, ctx)
                or _candle_problem(bar.opening_price, bar.high, bar.low, bar.closing_price)):
            return None
        return bar


_accepted_price = _AcceptedPrices()


def validate_record(raw: object, ctx: ValidationContext) -> Record | Rejection:
    """Validate one decoded JSON value. Returns the typed record or why it was refused."""
    if not isinstance(raw, dict):
        return Rejection((FieldError("record", f"expected a JSON object, got {type(raw).__name__}"),))
    kind = record_type_of(raw)
    if kind == PRICE_TYPE:
        bar = _accepted_price(raw, ctx)
        if bar is not None:
            return bar
    if kind is None:
        known = ", ".join(sorted(RECORD_MODELS))
        return Rejection((FieldError("data_type",
                                     f"unknown data_type {_clip(repr(raw.get('data_type')), 60)} (known: {known})"),))
    try:
        return RECORD_MODELS[kind].model_validate(raw, context=ctx)
    except ValidationError as exc:
        return Rejection(_field_errors(exc))
