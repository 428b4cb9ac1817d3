"""The processor's tables: for each, the shape of its rows, declared once, and the sink that stores them.

A row type is a NamedTuple whose fields are the table's columns, in order: the batch builder
makes rows by name (`BarRow.of(bar, values)`), and the sink derives its INSERT (and, for bars,
the staging table and binary COPY) from the same fields. Adding a column means adding a field
here (and a migration). Every sink inserts with ON CONFLICT DO NOTHING, so a batch written twice
stores each row once.
"""
from __future__ import annotations

import io
import types
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple, Sequence, get_args, get_type_hints

from services.core.indicators import INDICATOR_COLUMNS, IndicatorValues
from services.core.records import EconomicIndicator, MarketData, NewsSentiment, OrderBook, StockPrice
from services.core.signals import Signal
from services.core.stream import RolledBar
from services.core.timeframes import RAW
from services.db.binary_copy import BinaryCopy

F8 = "double precision"
_STAGING_TYPES = {str: "text", float: F8, int: "bigint", bytes: "bytea"}
Merge = bytes  # a sink's INSERT (parameters bound), run once the bars are staged


class Encoded(NamedTuple):
    """A sink's rows made ready to load, without a connection: made on the processor's loop, so the
    writer thread, which shares the GIL with it, has nothing left to do but I/O."""

    copy: str | None  # COPY … FROM STDIN into the staging table (None: nothing staged)
    data: io.IOBase | None  # its payload
    insert: str  # the INSERT that stores the rows
    params: Any  # the INSERT's parameters (None: none)

    def load(self, cur: Any, before: str = "") -> Merge:
        """COPY the payload into the staging table, if any, after the statements `before` (in the
        same round trip); returns the INSERT that stores the rows."""
        if self.copy is not None:
            cur.copy_expert(before + self.copy, self.data)
        merge: bytes = cur.mogrify(self.insert, self.params) if self.params is not None else self.insert.encode()
        return merge


def float_array(values: Sequence[float | None]) -> str:
    """A float8[] literal that PostgreSQL parses value by value, exactly: repr() round-trips, and
    float8in keeps -0.0, NaN and ±inf (as SQL numbers, psycopg2's list adaptation would turn -0.0
    into 0 through numeric)."""
    return "{" + ",".join("NULL" if v is None else repr(float(v)) for v in values) + "}"


def staging_type(hint: Any) -> str:
    """The staging column type of a row field's type hint (`X | None` stages as X; NULL is a value)."""
    if isinstance(hint, types.UnionType):
        (hint,) = (a for a in get_args(hint) if a is not type(None))
    return _STAGING_TYPES[hint]


RowType = type[tuple[Any, ...]]  # a NamedTuple class: a table's row, its fields the columns in order


def fields_of(row: RowType) -> tuple[str, ...]:
    """A row type's field names (NamedTuple's `_fields`, which a plain tuple type does not declare)."""
    fields: tuple[str, ...] = getattr(row, "_fields")
    return fields


def timestamptz_of(epoch_seconds: str) -> str:
    """SQL: epoch seconds staged as float8 (already whole microseconds) -> timestamptz, exactly.

    to_timestamp() first moves the value to PostgreSQL's 2000 epoch in float8, which loses the
    microsecond of timestamps before about 1950 (README "Real market data"); whole microseconds
    times an interval of one microsecond are exact."""
    return f"(timestamptz 'epoch' + round({epoch_seconds} * 1000000) * interval '1 microsecond')"


# -- rows ----------------------------------------------------------------------------------------

class BarRow(NamedTuple):
    """A base bar or a rolled-up candle, with the indicators after it (None: not defined yet)."""

    symbol: str
    timeframe: str
    ts: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    base_bars: int
    # IndicatorValues' fields, in order (checked below)
    sma: float | None
    ema_fast: float | None
    ema_slow: float | None
    rsi: float | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    bb_middle: float | None
    bb_upper: float | None
    bb_lower: float | None

    @classmethod
    def of(cls, bar: StockPrice, values: IndicatorValues) -> "BarRow":
        """A base bar: the applied price record, with its indicators."""
        # _make: tuple.__new__ on one tuple, half the cost of the generated __new__ with 19 arguments
        return cls._make((bar.stock_symbol, RAW, bar.timestamp, bar.opening_price, bar.high, bar.low,
                          bar.closing_price, bar.volume, 1, *values))

    @classmethod
    def rolled(cls, symbol: str, bar: RolledBar) -> "BarRow":
        c = bar.candle
        return cls(symbol, bar.timeframe, c.start, c.open, c.high, c.low, c.close, c.volume, c.bars,
                   *bar.values)


if BarRow._fields[-len(INDICATOR_COLUMNS):] != INDICATOR_COLUMNS:
    raise TypeError(f"BarRow must end with the indicator columns {INDICATOR_COLUMNS}")

class SignalRow(NamedTuple):
    symbol: str
    timeframe: str
    ts: float
    rule: str
    side: str
    price: float  # the close of the bar the signal fired on
    value: float
    reference: float

    @classmethod
    def of(cls, bar: StockPrice, signal: Signal) -> "SignalRow":
        return cls(bar.stock_symbol, RAW, bar.timestamp, signal.rule, signal.side, bar.closing_price,
                   signal.value, signal.reference)

    @classmethod
    def rolled(cls, symbol: str, bar: RolledBar, signal: Signal) -> "SignalRow":
        return cls(symbol, bar.timeframe, bar.candle.start, signal.rule, signal.side, bar.candle.close,
                   signal.value, signal.reference)


class LateBarRow(NamedTuple):
    """A candle not applied: a duplicate of, or older than, the symbol's last applied bar."""

    topic: str
    kafka_partition: int
    kafka_offset: int
    symbol: str
    ts: float
    reason: str
    last_applied_ts: float
    payload: str  # the message as received (JSON)


class OrderBookRow(NamedTuple):
    symbol: str
    ts: float
    order_type: str
    price: float
    quantity: int

    @classmethod
    def of(cls, record: OrderBook) -> "OrderBookRow":
        return cls(record.stock_symbol, record.timestamp, record.order_type, record.price, record.quantity)


class NewsSentimentRow(NamedTuple):
    symbol: str
    ts: float
    sentiment_score: float
    sentiment_magnitude: float

    @classmethod
    def of(cls, record: NewsSentiment) -> "NewsSentimentRow":
        return cls(record.stock_symbol, record.timestamp, record.sentiment_score, record.sentiment_magnitude)


class MarketDataRow(NamedTuple):
    symbol: str
    ts: float
    market_cap: float
    pe_ratio: float

    @classmethod
    def of(cls, record: MarketData) -> "MarketDataRow":
        return cls(record.stock_symbol, record.timestamp, record.market_cap, record.pe_ratio)


class EconomicIndicatorRow(NamedTuple):
    indicator_name: str
    ts: float
    value: float

    @classmethod
    def of(cls, record: EconomicIndicator) -> "EconomicIndicatorRow":
        return cls(record.indicator_name, record.timestamp, record.value)


class DeadLetterRow(NamedTuple):
    topic: str
    kafka_partition: int
    kafka_offset: int
    reason: str
    payload: bytes  # the message as received, at most the processor's MAX_MESSAGE_BYTES


# The row type each record type other than a candle becomes (made by its `of(record)`).
SIDE_ROWS: dict[type, Any] = {OrderBook: OrderBookRow, NewsSentiment: NewsSentimentRow,
                              MarketData: MarketDataRow, EconomicIndicator: EconomicIndicatorRow}


# -- sinks ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sink:
    """A table of few rows a batch, written by one INSERT from arrays: each column of the rows is an
    array parameter, unnested back into rows. No staging table, so nothing for PostgreSQL to empty
    at commit: a temporary table ON COMMIT DELETE ROWS is truncated at every commit of a transaction
    that touched any temporary table, and one with a text column (so a TOAST table and its index)
    cost about 0.25 ms a commit each, most of a small batch's commit."""

    table: str
    row: RowType
    timestamps: tuple[str, ...] = ()  # passed as epoch seconds, stored as timestamptz
    jsonb: tuple[str, ...] = ()  # passed as text, stored as jsonb

    # Derived once: encode runs on the processor's loop for every batch with rows of this table.
    @cached_property
    def columns(self) -> tuple[tuple[str, str], ...]:
        hints = get_type_hints(self.row)
        return tuple((name, staging_type(hints[name])) for name in fields_of(self.row))

    @cached_property
    def _insert(self) -> str:
        names = fields_of(self.row)
        exprs = [
            timestamptz_of(n) if n in self.timestamps else f"{n}::jsonb" if n in self.jsonb else n
            for n in names
        ]
        arrays = ", ".join(f"%s::{kind}[]" for _, kind in self.columns)
        return (
            f"INSERT INTO {self.table} ({', '.join(names)}) "
            f"SELECT {', '.join(exprs)} FROM unnest({arrays}) AS s({', '.join(names)}) ON CONFLICT DO NOTHING"
        )

    def encode(self, rows: Sequence[tuple[Any, ...]]) -> Encoded:
        return Encoded(None, None, self._insert, [float_array(column) if kind == F8 else list(column)
                                                  for (_, kind), column in zip(self.columns, zip(*rows))])

    def write(self, cur: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Store at once (outside the processor's batch transaction)."""
        cur.execute(self.encode(rows).load(cur))

    def insert_sql(self) -> str:
        return self._insert


class BarSink:
    """`bars`, the one table written at the stream's full rate, staged through binary COPY.

    A bar row is all numbers but its symbol and timeframe, so the staging row carries each of
    those as an index into the batch's list of them (passed to the INSERT as arrays) and every
    row has the same width (services.db.binary_copy). Indicators not yet defined travel as NaN
    and land as NULL.
    """

    table = "bars"
    row = BarRow
    staging = "stage_bars"
    _texts = ("symbol", "timeframe")  # the first fields of BarRow

    def __init__(self) -> None:
        assert BarRow._fields[:len(self._texts)] == self._texts
        hints = get_type_hints(BarRow)
        numbers = BarRow._fields[len(self._texts):]
        types = [*("smallint" for _ in self._texts), *(staging_type(hints[n]) for n in numbers)]
        self._copy = BinaryCopy(types)
        staged = [*(f"{t}_ix" for t in self._texts), *numbers]
        self._create = (f"CREATE TEMP TABLE IF NOT EXISTS {self.staging} ("
                        + ", ".join(f"{n} {t}" for n, t in zip(staged, types)) + ") ON COMMIT DELETE ROWS")
        values = [*(f"(%s::text[])[{t}_ix]" for t in self._texts),
                  *(timestamptz_of("ts") if n == "ts" else f"nullif({n}, 'NaN')" if n in INDICATOR_COLUMNS else n
                    for n in numbers)]
        self._insert = (f"INSERT INTO bars ({', '.join(BarRow._fields)}) "
                        f"SELECT {', '.join(values)} FROM {self.staging} ON CONFLICT DO NOTHING")

    def create_staging_sql(self) -> str:
        return self._create

    def encode(self, rows: Sequence[BarRow]) -> Encoded:
        """The rows as binary COPY, their texts as indexes into arrays passed to the INSERT."""
        columns: list[Sequence[Any]] = list(zip(*rows))
        lists = []
        for i in range(len(self._texts)):
            names = sorted(set(columns[i]))
            index = {name: n for n, name in enumerate(names, 1)}  # PostgreSQL arrays count from 1
            columns[i] = [index[name] for name in columns[i]]
            lists.append(names)
        return Encoded(f"COPY {self.staging} FROM STDIN (FORMAT binary)", io.BytesIO(self._copy.encode(columns)),
                       self._insert, lists)

    def write(self, cur: Any, rows: Sequence[BarRow]) -> None:
        """Stage and store at once (bulk loads outside the processor's batch transaction)."""
        cur.execute(self.encode(rows).load(cur))


BAR_SINK = BarSink()  # the one sink with a staging table (the writer's connection creates it)
SINKS: tuple[Sink | BarSink, ...] = (
    BAR_SINK,
    Sink("signals", SignalRow, timestamps=("ts",)),
    Sink("late_bars", LateBarRow, timestamps=("ts", "last_applied_ts"), jsonb=("payload",)),
    Sink("order_book", OrderBookRow, timestamps=("ts",)),
    Sink("news_sentiment", NewsSentimentRow, timestamps=("ts",)),
    Sink("market_data", MarketDataRow, timestamps=("ts",)),
    Sink("economic_indicators", EconomicIndicatorRow, timestamps=("ts",)),
    Sink("dead_letters", DeadLetterRow),
)

# Every table the processor writes: what a test or benchmark empties to start from nothing.
PROCESSOR_TABLES: tuple[str, ...] = (*(sink.table for sink in SINKS), "processor_offsets", "symbol_state")
