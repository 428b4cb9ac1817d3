"""Simulated history written straight through the processor's batch path, without Kafka.

The same validation, per-symbol streams, rows and one-transaction writes as a running processor
(`build_batch` + `BatchWriter`), fed by the generator's simulation instead of a consumer: days of
history at bulk speed, for benchmarks and tests of a database that has been running for a long
time (README "Data lifecycle"). It continues from the states stored in the database, as a
processor restarting on it would, so history can be built in steps with retention runs between.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

import orjson

from services.config import Settings
from services.core.records import Rejection, ValidationContext, validate_record
from services.core.simulation import MarketSimulator, RecordMix
from services.processor.metrics import ProcessorStats
from services.processor.store import BatchWriter
from services.processor.streams import SymbolStreams
from services.processor.transaction import build_batch

GROUP = "fast-forward"


@dataclass(slots=True)
class _Message:  # what build_batch reads of a Kafka message
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int


@dataclass
class FastForwardCounts:
    records: int = 0
    batches: int = 0
    seconds: float = 0.0
    by_topic: dict[str, int] = field(default_factory=dict)


class FastForward:
    """Writes `settings.symbols`' simulated records for a span of time into `settings.database_url`."""

    def __init__(self, settings: Settings, seed: int = 42, mix: RecordMix | None = None) -> None:
        self._settings = settings
        self._seed = seed
        self._mix = mix or RecordMix(settings.generator_order_book, settings.generator_news,
                                     settings.generator_market_data, settings.generator_economic)
        self._params = settings.indicator_params()
        self._rules = settings.signal_rules()
        self._timeframes = settings.timeframe_specs()
        self._writer = BatchWriter(settings.database_url, GROUP, asdict(self._params))
        self._topics = settings.topics
        self.stats = ProcessorStats()
        # the processor's own cache: a state that cannot be restored is rebuilt as the processor would
        self.streams = SymbolStreams(self._writer, self._topics.prices, self._params, self._rules, self._timeframes,
                                     self.stats)
        self._stored: dict[tuple[str, int], int] = {}  # each topic's next offset as committed
        self._next: dict[str, int] = {}  # the next offset to give a message of each topic
        self._ctx = ValidationContext(now=None, symbols=settings.symbol_policy(),
                                      max_future_skew=settings.max_future_skew_seconds)

    def close(self) -> None:
        self._writer.close()

    def messages(self, start: float, end: float, interval: float) -> Iterator[_Message]:
        """The simulated records from `start` to `end` as the Kafka messages ingest would have made:
        every symbol's candle (and side records) once per `interval` seconds, round robin."""
        self._stored = self._writer.load_offsets((topic, 0) for topic in self._topics.by_record_type.values())
        self._next = {topic: offset for (topic, _), offset in self._stored.items()}
        sim = MarketSimulator(self._settings.symbols, self._seed + int(start), start, interval, self._mix)
        while sim.timestamp(sim.symbols[0]) < end:
            for symbol in sim.symbols:
                for raw in sim.tick(symbol):
                    yield self._message(raw)

    def run(self, start: float, end: float, interval: float, batch: int = 5000,
            progress: Callable[[float], None] | None = None) -> FastForwardCounts:
        """Write `messages(start, end, interval)` in batches of `batch` messages, each one transaction.
        `progress(t)` is told the simulated time after each batch."""
        counts = FastForwardCounts()
        began = time.perf_counter()
        pending: list[_Message] = []
        for message in self.messages(start, end, interval):
            pending.append(message)
            counts.records += 1
            counts.by_topic[message.topic] = counts.by_topic.get(message.topic, 0) + 1
            if len(pending) >= batch:
                self._flush(pending, counts, progress)
        if pending:
            self._flush(pending, counts, progress)
        counts.seconds = time.perf_counter() - began
        return counts

    def _flush(self, pending: list[_Message], counts: FastForwardCounts,
               progress: Callable[[float], None] | None) -> None:
        clock = pending[-1].timestamp / 1000
        self._write(pending, clock)
        counts.batches += 1
        pending.clear()
        if progress is not None:
            progress(clock)

    def _message(self, raw: dict[str, Any]) -> _Message:
        record = validate_record(raw, self._ctx)
        if isinstance(record, Rejection):
            raise ValueError(f"the simulation made an invalid record: {record.reason}")
        topic = self._topics.by_record_type[record.record_type]
        offset = self._next.get(topic, 0)
        self._next[topic] = offset + 1
        return _Message(topic, 0, offset, record.key.encode(), orjson.dumps(raw), round(record.timestamp * 1000))

    def _write(self, messages: list[_Message], clock: float) -> None:
        expected = {tp: self._stored.get(tp) for tp in {(m.topic, m.partition) for m in messages}}
        self.streams.load_for(messages)
        out, _ = build_batch(messages, self.streams.stream_for, self._ctx, self._topics.record_type_of_topic,
                             clock=clock + 1)
        self._writer.write(out, expected)
        self._stored.update(out.next_offsets)
