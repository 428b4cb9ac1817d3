"""Turn one poll's Kafka messages into the rows of one database transaction.

Everything a batch changes is collected here: table rows, each partition's next offset, and
the state of every symbol it touched. The writer stores all of it atomically, so a crash
anywhere leaves either the whole batch or none of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import orjson

from services.core.records import Rejection, StockPrice, ValidationContext, too_far_ahead, validate_record
from services.core.stream import AppliedBar, SymbolStream
from services.processor.sinks import SIDE_ROWS, BarRow, DeadLetterRow, LateBarRow, SignalRow

MAX_MESSAGE_BYTES = 64 * 1024


class Message(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int  # ms: when Kafka appended it (topics are LogAppendTime), or the producer's time; -1 if none


@dataclass(slots=True)
class BatchOutput:
    # Rows by row type (services/processor/sinks.py), each list in message order.
    rows: dict[type, list[Any]] = field(default_factory=dict)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # Each touched symbol's (last_ts, state) as of the end of this batch: a snapshot, because
    # the live streams move on while the batch is being written.
    states: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.setdefault(type(row), []).append(row)

    def rows_of(self, row_type: type) -> list[Any]:
        return self.rows.get(row_type, [])  # may be empty: build_batch lists bars and signals up front


def build_batch(
    messages: Iterable[Message],
    stream_for: Callable[[str], SymbolStream],
    ctx: ValidationContext,
    topic_types: dict[str, str],
    clock: float,
) -> tuple[BatchOutput, int]:
    """Apply messages in order; return the batch and how many messages it held.

    `stream_for(symbol)` returns the live SymbolStream of a symbol (loaded from the database
    by the caller when first seen); this function advances it. `topic_types` maps each topic
    to the record type it carries: anything else on it is a dead letter. So is a record keyed by
    anything but what ingest keys it by (on another partition, its order against its symbol's
    other records would depend on timing), and one whose timestamp is more than the allowed skew
    ahead of the time Kafka stamped on the message, or of `clock` (this processor's) if that is
    earlier: judged by the stamp, a replay of the topic decides exactly as the first run did.
    """
    out = BatchOutput()
    touched: dict[str, SymbolStream] = {}
    count = 0
    max_skew = ctx.max_future_skew
    next_offsets = out.next_offsets
    # The rows every candle makes, appended to directly (out.add looks the list up per row).
    add_bar = out.rows.setdefault(BarRow, []).append
    add_signal = out.rows.setdefault(SignalRow, []).append
    for msg in messages:
        count += 1
        next_offsets[(msg.topic, msg.partition)] = msg.offset + 1
        where = (msg.topic, msg.partition, msg.offset)
        raw_bytes = msg.value or b""
        if len(raw_bytes) > MAX_MESSAGE_BYTES:
            out.add(DeadLetterRow(*where, f"message of {len(raw_bytes)} bytes exceeds {MAX_MESSAGE_BYTES}",
                                  raw_bytes[:MAX_MESSAGE_BYTES]))
            continue
        try:
            raw = orjson.loads(raw_bytes)
        except orjson.JSONDecodeError as exc:
            out.add(DeadLetterRow(*where, f"not JSON: {exc}", raw_bytes))
            continue
        record = validate_record(raw, ctx)
        if isinstance(record, Rejection):
            out.add(DeadLetterRow(*where, f"invalid record: {record.reason}", raw_bytes))
            continue
        expected = topic_types.get(msg.topic)
        if record.record_type != expected:
            out.add(DeadLetterRow(*where, f"a {record.record_type} record on {msg.topic}", raw_bytes))
            continue
        if msg.key != record.key.encode():
            out.add(DeadLetterRow(*where, f"keyed {printable(repr(msg.key), 80)}, not by its "
                                          f"{record.key_field} {record.key!r} as ingest keys it", raw_bytes))
            continue
        stamped = min(msg.timestamp / 1000.0, clock) if msg.timestamp >= 0 else clock
        if record.timestamp > stamped + max_skew:
            ahead = too_far_ahead(record.timestamp, stamped, max_skew, "the time it reached Kafka")
            out.add(DeadLetterRow(*where, f"invalid record: {ahead}", raw_bytes))
            continue
        if isinstance(record, StockPrice):
            stream = stream_for(record.stock_symbol)
            touched[record.stock_symbol] = stream
            result = stream.apply(record)
            if isinstance(result, AppliedBar):
                add_bar(BarRow.of(record, result.values))
                for sig in result.signals:
                    add_signal(SignalRow.of(record, sig))
                for rolled in result.rolled:
                    add_bar(BarRow.rolled(record.stock_symbol, rolled))
                    for sig in rolled.signals:
                        add_signal(SignalRow.rolled(record.stock_symbol, rolled, sig))
            else:
                out.add(LateBarRow(*where, record.stock_symbol, record.timestamp, result.reason,
                                   result.last_applied_ts, raw_bytes.decode()))
        else:
            out.add(SIDE_ROWS[type(record)].of(record))
    # A stream that has applied no bar has nothing to save (every touched one has: a first bar is never late).
    out.states = {symbol: (stream.last_ts, stream.to_state()) for symbol, stream in touched.items()
                  if stream.last_ts is not None}
    return out, count


def dead_letter_batch(msg: Message, reason: str) -> BatchOutput:
    """A batch that only moves `msg` to the dead letters (and past it): for a record that passed
    validation but could not be computed or stored (see Processor._isolate)."""
    out = BatchOutput()
    out.next_offsets[(msg.topic, msg.partition)] = msg.offset + 1
    raw_bytes = msg.value or b""
    out.add(DeadLetterRow(msg.topic, msg.partition, msg.offset, printable(reason), raw_bytes[:MAX_MESSAGE_BYTES]))
    return out


def printable(text: str, limit: int = 1000) -> str:
    """`text` fit for a text column and a log line: no NUL or other control characters, bounded."""
    cleaned = "".join(ch if ch >= " " or ch == "\t" else f"\\x{ord(ch):02x}" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"
