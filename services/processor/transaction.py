"""Turn one poll's Kafka messages into the rows of one database transaction.

Everything a batch changes is collected here: table rows, each partition's next offset, and
the state of every symbol it touched. The writer stores all of it atomically, so a crash
anywhere leaves either the whole batch or none of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Callable, Iterable, Protocol

import orjson

from services.core.stream import AppliedBar, SymbolStream
from services.core.indicators import INDICATOR_COLUMNS
from services.core.records import (
    EconomicIndicator,
    MarketData,
    NewsSentiment,
    OrderBook,
    Rejection,
    StockPrice,
    ValidationContext,
    validate_record,
)
MAX_MESSAGE_BYTES = 64 * 1024
_indicator_tuple = attrgetter(*INDICATOR_COLUMNS)


class Message(Protocol):
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass(slots=True)
class BatchOutput:
    bars: list[tuple] = field(default_factory=list)
    signals: list[tuple] = field(default_factory=list)
    late_bars: list[tuple] = field(default_factory=list)
    order_book: list[tuple] = field(default_factory=list)
    news_sentiment: list[tuple] = field(default_factory=list)
    market_data: list[tuple] = field(default_factory=list)
    economic_indicators: list[tuple] = field(default_factory=list)
    dead_letters: list[tuple] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # Each touched symbol's (last_ts, state) as of the end of this batch: a snapshot, because
    # the live streams move on while the batch is being written.
    states: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)


def _other_record_row(record: Any) -> tuple[str, tuple]:
    if isinstance(record, OrderBook):
        return "order_book", (record.stock_symbol, record.timestamp, record.order_type, record.price, record.quantity)
    if isinstance(record, NewsSentiment):
        return "news_sentiment", (
            record.stock_symbol, record.timestamp, record.sentiment_score, record.sentiment_magnitude)
    if isinstance(record, MarketData):
        return "market_data", (record.stock_symbol, record.timestamp, record.market_cap, record.pe_ratio)
    if isinstance(record, EconomicIndicator):
        return "economic_indicators", (record.indicator_name, record.timestamp, record.value)
    raise TypeError(f"no table for {type(record).__name__}")


def build_batch(
    messages: Iterable[Message],
    stream_for: Callable[[str], SymbolStream],
    ctx: ValidationContext,
    topic_types: dict[str, str],
) -> tuple[BatchOutput, int]:
    """Apply messages in order; return the batch and how many messages it held.

    `stream_for(symbol)` returns the live SymbolStream of a symbol (loaded from the database
    by the caller when first seen); this function advances it. `topic_types` maps each topic
    to the record type it carries: anything else on it is a dead letter.
    """
    out = BatchOutput()
    touched: dict[str, SymbolStream] = {}
    count = 0
    for msg in messages:
        count += 1
        out.next_offsets[(msg.topic, msg.partition)] = msg.offset + 1
        where = (msg.topic, msg.partition, msg.offset)
        raw_bytes = msg.value or b""
        if len(raw_bytes) > MAX_MESSAGE_BYTES:
            out.dead_letters.append((*where, f"message of {len(raw_bytes)} bytes exceeds {MAX_MESSAGE_BYTES}",
                                     raw_bytes[:MAX_MESSAGE_BYTES]))
            continue
        try:
            raw = orjson.loads(raw_bytes)
        except orjson.JSONDecodeError as exc:
            out.dead_letters.append((*where, f"not JSON: {exc}", raw_bytes))
            continue
        record = validate_record(raw, ctx)
        if isinstance(record, Rejection):
            out.dead_letters.append((*where, f"invalid record: {record.reason}", raw_bytes))
            continue
        expected = topic_types.get(msg.topic)
        if record.record_type != expected:
            out.dead_letters.append((*where, f"a {record.record_type} record on {msg.topic}", raw_bytes))
            continue
        if isinstance(record, StockPrice):
            stream = stream_for(record.stock_symbol)
            touched[record.stock_symbol] = stream
            result = stream.apply(record)
            if isinstance(result, AppliedBar):
                out.bars.append((
                    record.stock_symbol, record.timestamp, record.opening_price, record.high, record.low,
                    record.closing_price, record.volume, *_indicator_tuple(result.values),
                ))
                for sig in result.signals:
                    out.signals.append((record.stock_symbol, record.timestamp, sig.rule, sig.side,
                                        record.closing_price, sig.value, sig.reference))
            else:
                out.late_bars.append((*where, record.stock_symbol, record.timestamp, result.reason,
                                      result.last_applied_ts, raw_bytes.decode()))
        else:
            table, row = _other_record_row(record)
            getattr(out, table).append(row)
    out.states = {symbol: (stream.last_ts, stream.to_state()) for symbol, stream in touched.items()}
    return out, count


def dead_letter_batch(msg: Message, reason: str) -> BatchOutput:
    """A batch that only moves `msg` to the dead letters (and past it): for a record that passed
    validation but could not be computed or stored (see Processor._isolate)."""
    out = BatchOutput()
    out.next_offsets[(msg.topic, msg.partition)] = msg.offset + 1
    raw_bytes = msg.value or b""
    out.dead_letters.append((msg.topic, msg.partition, msg.offset, printable(reason), raw_bytes[:MAX_MESSAGE_BYTES]))
    return out


def printable(text: str, limit: int = 1000) -> str:
    """`text` fit for a text column and a log line: no NUL or other control characters, bounded."""
    cleaned = "".join(ch if ch >= " " or ch == "\t" else f"\\x{ord(ch):02x}" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"
