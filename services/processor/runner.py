"""The processor loop: poll Kafka, build a batch, store it in one transaction, repeat.

Offsets live in PostgreSQL, next to the outputs they produced. After every partition
assignment, and after any failed write, the processor "rewinds": it forgets its in-memory
symbol state, seeks every assigned partition to the offset stored in PostgreSQL, and reloads
state from there. So whatever happened (crash, rebalance, database outage), processing resumes
exactly after the last committed batch.
"""
from __future__ import annotations

import base64
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import MemberState, OffsetAndMetadata

from services.config import Settings
from services.core.records import ValidationContext
from services.core.timeframes import RAW
from services.kafka_io import coordinator_known, finish_stranded_join, make_consumer, make_producer
from services.logs import event
from services.processor.errors import DATA_ERRORS, DB_ERRORS, RETRYABLE, error_text
from services.processor.metrics import ProcessorMetrics, ProcessorStats
from services.processor.sinks import SIDE_ROWS, BarRow, DeadLetterRow, LateBarRow, SignalRow
from services.processor.store import BatchWriter, EncodedBatch, encode
from services.processor.streams import SymbolStreams
from services.processor.transaction import BatchOutput, build_batch, dead_letter_batch, printable
from services.retry import Backoff, retry

log = logging.getLogger(__name__)

JOIN_POLL_MS = 1_000  # poll timeout while the consumer (re)joins its group (see Processor._poll_timeout_ms)
JOIN_STALL_FACTOR = 3.0  # a join is a stall after this many processor_stall_timeout_s
LAG_COMMIT_INTERVAL_S = 1.0  # Kafka-side offset commits (for lag tools only) at most this often


@dataclass(slots=True)
class InFlight:
    """The batch being written on the writer thread, and what it was built from."""

    future: Future[BatchOutput]
    messages: list[Any]
    expected: dict[tuple[str, int], int | None]  # stored next offsets the batch started from


class Processor:
    """A member of the processor group; its own rebalance listener (registered below)."""

    def __init__(
        self,
        settings: Settings,
        *,
        group: str | None = None,
        consumer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.params = settings.indicator_params()
        self.rules = settings.signal_rules()
        self.timeframes = settings.timeframe_specs()
        self.group = group or settings.processor_group
        self.topics = settings.topics
        self._topic_names = sorted(self.topics.by_record_type.values())
        self.store = BatchWriter(settings.database_url, self.group, asdict(self.params),
                                 stuck_after_s=settings.processor_stuck_transaction_s)
        self._consumer_config = dict(
            max_poll_records=settings.processor_batch_max,
            session_timeout_ms=settings.processor_session_timeout_ms,
            heartbeat_interval_ms=settings.processor_session_timeout_ms // 5,
            bootstrap_timeout_ms=settings.processor_bootstrap_timeout_ms,
            **(consumer_overrides or {}),
        )
        self.consumer: KafkaConsumer | None = None  # connected by run(): Kafka may be down at start
        self._last_progress = time.monotonic()
        self._producer: KafkaProducer | None = None  # created on the first dead letter
        self.offsets: dict[tuple[str, int], int | None] = {}  # stored next offset per assigned partition
        self.needs_rewind = False
        # Event time is judged against the time Kafka stamped on each message (build_batch), not here.
        self._validation = ValidationContext(now=None, max_future_skew=settings.max_future_skew_seconds)
        self.stats = ProcessorStats()
        self.metrics = ProcessorMetrics(self.stats)
        self.streams = SymbolStreams(self.store, self.topics.prices, self.params, self.rules, self.timeframes,
                                     self.stats)
        self.stopping = threading.Event()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="processor-writer")
        self._in_flight: InFlight | None = None
        self._kafka_backoff = Backoff(0.5, 30.0)  # the start-up wait's steps (_connect)
        self._lag_pending: dict[tuple[str, int], int] = {}  # stored next offsets not yet told to Kafka
        self._lag_told_at = 0.0

    # -- rebalance listener (called inside poll) -------------------------------------------
    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._settle()  # let the batch in flight commit (or fail) before the partitions move
        self._report_lag({}, now=True)  # while this member still owns them
        self.streams.clear()
        for tp in revoked:
            self.offsets.pop((tp.topic, tp.partition), None)
        self.metrics.forget_partitions({(tp.topic, tp.partition) for tp in revoked})

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.stats.assigned = len(self._kafka.assignment())
        self.needs_rewind = True

    # -- main loop --------------------------------------------------------------------------
    def run(self) -> None:
        """Poll and build batch N+1 while a background thread writes batch N (depth-1 pipeline).

        Batches are still written one at a time and in order, each in its own transaction.
        Batch N+1 is built on the in-memory state that batch N left; if N fails, N+1 is
        dropped and the processor rewinds to what PostgreSQL holds.
        """
        if not self._connect():
            return  # stopped while waiting for Kafka
        self._wait_for_topics()
        self._subscribe()
        event(log, "processor started", group=self.group, topics=self._topic_names)
        try:
            while not self.stopping.is_set():
                polled = self._poll()
                self.stats.last_loop_at = time.monotonic()
                if polled is None:
                    continue  # Kafka is away: waited a backoff step, alive and unready
                self._observe_lag()
                if self._joining():
                    # Poll again at once, before other work, so the join completes; what this poll
                    # fetched is fetched again after the rewind. A join may legitimately wait for
                    # other members: the watchdog gives it longer.
                    self._watch_for_stall(JOIN_STALL_FACTOR)
                    continue
                if self.needs_rewind:
                    self._settle()
                    self._rewind()  # what this poll fetched may predate the seek: fetch it again
                    continue
                if polled:
                    self._last_progress = self.stats.last_loop_at
                    self._process(polled)
                else:
                    self._settle()  # idle: make the last batch visible now, not at the next poll
                    self._report_lag({})  # and tell Kafka where it ended
                    self._watch_for_stall()
        finally:
            self._settle()
            self._shutdown()

    def stop(self) -> None:
        self.stopping.set()

    @property
    def _kafka(self) -> KafkaConsumer:
        """The connected consumer: run() connects before anything uses it."""
        if self.consumer is None:
            raise RuntimeError("the processor is not connected to Kafka yet")
        return self.consumer

    def _poll(self) -> dict[TopicPartition, list[Any]] | None:
        """One poll; None after waiting out a Kafka error (broker down, coordinator gone) with capped
        backoff. The consumer reconnects and rejoins by itself, and the rewind that follows any new
        assignment positions it from PostgreSQL, so riding out an outage needs nothing else."""
        try:
            polled: dict[TopicPartition, list[Any]] = self._kafka.poll(
                timeout_ms=self._poll_timeout_ms(), max_records=self.settings.processor_batch_max)
        except KafkaError as exc:
            self.stats.kafka_errors += 1
            self._kafka_lost(error_text(exc))
            self._settle()  # a batch in flight still commits to PostgreSQL meanwhile
            self.stopping.wait(self._kafka_backoff.next())
            return None
        if not polled and self.stats.assigned and not coordinator_known(self._kafka):
            self._kafka_lost("no connection to the group coordinator")  # the client retries by itself
        elif self.stats.kafka_unreachable:
            self.stats.kafka_unreachable = False
            self._kafka_backoff.reset()
            self._last_progress = time.monotonic()  # the stall watchdog counts from the recovery
            event(log, "Kafka reachable again")
        return polled

    def _kafka_lost(self, error: str) -> None:
        """Alive and unready until a poll reaches Kafka again; said once per outage."""
        if not self.stats.kafka_unreachable:
            self.stats.kafka_unreachable = True
            event(log, "Kafka unreachable; polling on with backoff", logging.WARNING,
                  bootstrap=self.settings.kafka_bootstrap, error=error)

    def _joining(self) -> bool:
        """Is the group (re)joining? If so, make sure the next poll carries the join through."""
        if self._kafka.group_metadata().state == MemberState.STABLE:
            return False
        if finish_stranded_join(self._kafka):
            self.stats.stranded_joins += 1
            event(log, "group join left unfinished by the Kafka client; finishing it", logging.WARNING)
        return True

    def _poll_timeout_ms(self) -> int:
        """The batch timeout while the group is stable; while it (re)joins, a poll long enough to
        carry the join through (see kafka_io.finish_stranded_join). Either returns as soon as
        records arrive."""
        return JOIN_POLL_MS if self._joining() else self.settings.processor_batch_timeout_ms

    def _watch_for_stall(self, factor: float = 1.0) -> None:
        if self.stats.last_loop_at - self._last_progress > factor * self.settings.processor_stall_timeout_s:
            self._unstick()

    def _connect(self) -> bool:
        """Create the consumer, waiting out an unreachable Kafka with capped backoff (unready, alive)."""
        def attempt() -> Any:
            self.stats.last_loop_at = time.monotonic()  # waiting is this process's work: stay live
            return make_consumer(self.settings.kafka_bootstrap, self.group, **self._consumer_config)

        def said(exc: BaseException, delay: float) -> None:
            event(log, "Kafka unreachable; retrying", logging.WARNING, bootstrap=self.settings.kafka_bootstrap,
                  error=error_text(exc), retry_in_s=round(delay, 1))

        self.consumer = retry(attempt, retry_on=(KafkaError,), backoff=self._kafka_backoff, stop=self.stopping,
                              on_retry=said)
        return self.consumer is not None

    def _subscribe(self) -> None:
        self._kafka.subscribe(self._topic_names, listener=self)
        self._last_progress = time.monotonic()  # the stall watchdog counts from the subscription

    def _wait_for_topics(self) -> None:
        """Join the group only once the consumer sees every topic with its partitions.

        kafka-python assigns nothing for a topic its metadata does not show yet, and may not rejoin
        when the topic appears later: a processor started together with topic creation (first
        deploy, fresh test topics) would then sit idle.
        """
        delays, said_at = Backoff(0.1, 2.0, jitter=False), 0.0
        while not self.stopping.is_set():
            try:
                missing = [t for t in self._topic_names if not self._kafka.partitions_for_topic(t)]
            except KafkaError as exc:  # Kafka went away right after the consumer connected
                missing = self._topic_names
                event(log, "Kafka unreachable while reading topic metadata; retrying", logging.WARNING,
                      error=error_text(exc))
            if not missing:
                return
            if time.monotonic() - said_at > 10:
                event(log, "waiting for topics (create them with `python -m services.admin topics`)",
                      logging.WARNING, missing=missing)
                said_at = time.monotonic()
            self.stopping.wait(delays.next())

    def _process(self, polled: dict[TopicPartition, list[Any]]) -> None:
        started = time.perf_counter()
        messages = [m for records in polled.values() for m in records]
        try:
            self.streams.load_for(messages)
        except RETRYABLE as exc:
            self._settle()
            self._failed(exc)
            return
        try:
            out, count = self._build(messages)
            # Encoded here, while the batch before is written: the writer thread shares the GIL with
            # this loop, and a writer busy encoding kept the next batch waiting (the binary encoder
            # refuses what cannot be stored: a data error, like PostgreSQL's).
            encoded = encode(out)
        except DATA_ERRORS as exc:
            if self._settle():  # the streams may be half-updated: isolate from the committed state
                self._isolate(messages, exc)
            return
        if not self._settle():
            return  # the previous batch failed: this one was built on state that never committed
        expected = {tp: self.offsets.get(tp) for tp in out.next_offsets}
        self.offsets.update(out.next_offsets)  # what the next batch will expect, if this one commits
        self._in_flight = InFlight(self._writer.submit(self._store, out, expected, count, started, encoded),
                                   messages, expected)

    def _build(self, messages: list[Any]) -> tuple[BatchOutput, int]:
        return build_batch(messages, self.streams.stream_for, self._validation, self.topics.record_type_of_topic,
                           clock=time.time())

    def _store(self, out: BatchOutput, expected: dict[tuple[str, int], int | None], count: int,
               started: float, encoded: EncodedBatch | None = None) -> BatchOutput:
        """Runs on the writer thread, or on the loop while isolating (then `encoded` is None)."""
        dead = out.rows_of(DeadLetterRow)
        if dead:
            self._publish_dead_letters(dead)
        writing = time.perf_counter()
        self.store.write(out, expected, encoded)
        committed_at = time.time()
        m = self.metrics
        m.commit_seconds.observe(time.perf_counter() - writing)
        m.batch_messages.observe(count)
        s = self.stats
        s.batches += 1
        s.messages += count
        bars = out.rows_of(BarRow)
        base_ts = [row.ts for row in bars if row.timeframe == RAW]
        base = len(base_ts)
        if base_ts:
            m.end_to_end_seconds.observe(max(0.0, committed_at - min(base_ts)))
        s.bars += base
        s.rolled_bars += len(bars) - base
        s.signals += len(out.rows_of(SignalRow))
        s.late_bars += len(out.rows_of(LateBarRow))
        s.dead_letters += len(dead)
        s.other_records += sum(len(rows) for row, rows in out.rows.items() if row in SIDE_ROWS.values())
        s.last_batch_ms = (time.perf_counter() - started) * 1000
        if dead:
            event(log, "dead letters stored", logging.WARNING, count=len(dead), first_reason=dead[0].reason)
        return out

    def _settle(self) -> bool:
        """Wait for the batch in flight. True if it committed (or there was none)."""
        batch, self._in_flight = self._in_flight, None
        if batch is None:
            return True
        try:
            out = batch.future.result()
        except RETRYABLE as exc:
            self._failed(exc)
            return False
        except DATA_ERRORS as exc:
            self.offsets.update(batch.expected)  # it did not commit
            self._isolate(batch.messages, exc)
            return False  # a batch built after it used state that never committed: rebuilt after the rewind
        self._report_lag(out.next_offsets)
        return True

    def _isolate(self, messages: list[Any], exc: BaseException) -> None:
        """Store `messages` in ever smaller parts, in order, until each record that cannot be stored
        is alone; that one goes to the dead letters with the error. Every part is its own committed
        transaction (rows, offsets, states), built from the state PostgreSQL holds, so the outcome is
        what an undisturbed run without the offending records would have stored, plus dead letters.
        """
        event(log, "batch refused for a data reason; isolating the offending records", logging.WARNING,
              error=printable(error_text(exc)), messages=len(messages))
        self.store.close()
        self.streams.clear()
        # Parts not yet tried (error None) or known to fail, in order; the whole batch failed already.
        pending: list[tuple[list[Any], BaseException | None]] = [(messages, exc)]
        try:
            while pending:
                part, error = pending.pop()
                if error is None:
                    try:
                        self._store_now(part)
                        continue
                    except DATA_ERRORS as part_exc:
                        self.store.close()
                        self.streams.clear()
                        error = part_exc
                if len(part) > 1:
                    middle = len(part) // 2
                    pending += [(part[middle:], None), (part[:middle], None)]  # the first half is stored first
                else:
                    reason = f"not storable: {error_text(error)}"
                    self._store_now(part, dead_letter=reason)
                    event(log, "record isolated to the dead letters", logging.WARNING, topic=part[0].topic,
                          partition=part[0].partition, offset=part[0].offset, reason=printable(reason))
        except RETRYABLE as infra:
            self._failed(infra)
            return
        self.streams.clear()
        self.needs_rewind = True  # re-fetch whatever followed the isolated messages

    def _store_now(self, messages: list[Any], dead_letter: str | None = None) -> None:
        """Build and store one batch on this thread (used while isolating)."""
        started = time.perf_counter()
        if dead_letter is None:
            self.streams.load_for(messages)
            out, count = self._build(messages)
        else:
            out, count = dead_letter_batch(messages[0], dead_letter), 1
        expected = {tp: self.offsets.get(tp) for tp in out.next_offsets}
        self._store(out, expected, count, started)
        self.offsets.update(out.next_offsets)

    def _unstick(self) -> None:
        """Replace the consumer if it receives nothing while its partitions have unread records.

        kafka-python 3.0 can lose its group membership for good when a restarted broker answers
        JoinGroup with COORDINATOR_LOAD_IN_PROGRESS: it then polls forever and fetches nothing.
        A fresh consumer rejoins, and the rewind that follows every assignment makes it exact.
        """
        self._last_progress = time.monotonic()  # at most one check per stall window
        assigned = self._kafka.assignment()
        try:
            ends = self._kafka.end_offsets(list(assigned), timeout_ms=5_000) if assigned else {}
        except KafkaError:
            return  # Kafka itself is unreachable: nothing a new consumer could do better
        behind = {f"{tp.topic}[{tp.partition}]": end - (self.offsets.get((tp.topic, tp.partition)) or 0)
                  for tp, end in ends.items() if end > (self.offsets.get((tp.topic, tp.partition)) or 0)}
        if not behind:
            return
        event(log, "consumer stalled with unread records; reconnecting", logging.WARNING,
              lag=sum(behind.values()), partitions=len(behind))
        self.stats.reconnects += 1
        try:
            self._kafka.close(autocommit=False)
        except KafkaError:
            pass
        self.streams.clear()
        self.offsets = {}
        if self._connect():
            self._subscribe()

    def _failed(self, exc: BaseException) -> None:
        """A batch could not be stored: forget everything after the last commit (next loop rewinds)."""
        self.stats.write_failures += 1
        event(log, "batch not stored; rewinding to the last committed batch", logging.WARNING,
              error=error_text(exc))
        self.store.close()
        self.streams.clear()
        self.needs_rewind = True

    def _publish_dead_letters(self, dead: list[DeadLetterRow]) -> None:
        """Announce poison messages on the dead-letter topic before the batch commits.

        The `dead_letters` table is written in the batch transaction (exactly once); the topic
        copy is at-least-once: a crash between the two republishes it, under the same key.
        """
        if self._producer is None:
            self._producer = make_producer(self.settings.kafka_bootstrap)
        futures = [
            self._producer.send(
                self.topics.dead_letter,
                key=f"{topic}:{partition}:{offset}".encode(),
                value=orjson.dumps({"topic": topic, "partition": partition, "offset": offset, "reason": reason,
                                    "payload_base64": base64.b64encode(payload).decode()}),
            )
            for topic, partition, offset, reason, payload in dead
        ]
        for future in futures:
            future.get(timeout=10)

    def _rewind(self) -> None:
        """Seek every assigned partition to its stored offset; forget in-memory state."""
        assignment = self._kafka.assignment()

        def said(exc: BaseException, delay: float) -> None:
            event(log, "PostgreSQL unavailable; retrying", logging.WARNING, error=str(exc).strip(),
                  retry_in_s=round(delay, 2))
            self.store.close()

        stored = retry(lambda: self.store.load_offsets((tp.topic, tp.partition) for tp in assignment),
                       retry_on=DB_ERRORS, backoff=Backoff(0.2, 5.0), stop=self.stopping, on_retry=said)
        if stored is None:
            return
        self.streams.clear()
        self.offsets = {}
        for tp in assignment:
            key = (tp.topic, tp.partition)
            if key in stored:
                self._kafka.seek(tp, stored[key])
            else:
                self._kafka.seek_to_beginning(tp)
            self.offsets[key] = stored.get(key)
        self.needs_rewind = False
        self.stats.rewinds += 1
        self._last_progress = time.monotonic()  # the stall watchdog counts from here, not from before an outage
        event(log, "partitions positioned from PostgreSQL", partitions=len(assignment),
              stored=len(stored))

    def _observe_lag(self) -> None:
        """The lag gauge: each partition's high watermark (as of the last fetch) minus the next offset
        the processor will store (it stays put while batches fail, so an outage shows as growing lag)."""
        for (topic, partition), offset in self.offsets.items():
            highwater = self._kafka.highwater(TopicPartition(topic, partition))
            if highwater is not None:
                self.metrics.consumer_lag.labels(topic, str(partition)).set(max(0, highwater - (offset or 0)))

    def _report_lag(self, next_offsets: dict[tuple[str, int], int], now: bool = False) -> None:
        """Kafka-side commits exist only so lag tools see progress; PostgreSQL holds the truth. So
        they go at most once a LAG_COMMIT_INTERVAL_S (also when idle), or `now` (partitions moving):
        one per batch was about 4% of the processor's time holding the GIL at 5,000 bars/s, in
        batches of a few dozen."""
        self._lag_pending.update(next_offsets)
        at = time.monotonic()
        if not self._lag_pending or (not now and at - self._lag_told_at < LAG_COMMIT_INTERVAL_S):
            return
        pending, self._lag_pending, self._lag_told_at = self._lag_pending, {}, at
        try:
            self._kafka.commit_async(
                {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in pending.items()}
            )
        except KafkaError as exc:
            log.debug("lag commit failed: %s", exc)

    def _shutdown(self) -> None:
        self._writer.shutdown(wait=True)
        try:
            if self.consumer is not None:
                self._kafka.close(autocommit=False)
            if self._producer is not None:
                self._producer.close(timeout=5)
        finally:
            self.store.close()
        event(log, "processor stopped", **{k: v for k, v in self.stats.as_dict().items()
                                           if k in ("batches", "bars", "signals", "late_bars", "dead_letters")})


# kafka-python takes only a ConsumerRebalanceListener (an ABC) as listener: the processor is one by
# registration, since a class of an untyped library cannot be subclassed in checked code.
ConsumerRebalanceListener.register(Processor)
