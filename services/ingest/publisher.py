"""Publish judged records to Kafka and wait for the broker's acknowledgement of every one."""
from __future__ import annotations

import socket
import time
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError

from services.core.records import Record, Rejection
from services.kafka_io import Topics

# A rejected record is kept whole on ingest.rejected up to this size, else as an excerpt: a 2 MB
# record must not turn into a message Kafka refuses (and a 503 the client would retry forever).
MAX_REJECTED_RECORD_BYTES = 64 * 1024


def rejected_message(index: int, raw: Any, rejection: Rejection, received_at: float) -> bytes:
    """The dead letter of one rejected record, always well under Kafka's message size limit."""
    record = orjson.dumps(raw)
    message: dict[str, Any] = {"index": index, "reason": rejection.reason[:2000],
                               "errors": [e.as_dict() for e in rejection.errors[:20]], "received_at": received_at}
    if len(record) <= MAX_REJECTED_RECORD_BYTES:
        message["record"] = orjson.Fragment(record)
    else:
        message["record_excerpt"] = record[:MAX_REJECTED_RECORD_BYTES].decode(errors="replace")
        message["record_bytes"] = len(record)
    return orjson.dumps(message)


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge the batch: the client must retry (HTTP 503)."""


class Publisher:
    def __init__(self, producer: KafkaProducer, bootstrap: str, topics: Topics, ack_timeout_s: float = 10.0) -> None:
        self._producer = producer
        self._topics = topics
        self._servers = [s.strip() for s in bootstrap.split(",") if s.strip()]
        self._ack_timeout_s = ack_timeout_s
        self._reachable_at = 0.0

    def reachable(self, cache_s: float = 1.0) -> bool:
        """Can a TCP connection reach a bootstrap broker? Cached briefly: it runs per request."""
        now = time.monotonic()
        if now - self._reachable_at < cache_s:
            return True
        for server in self._servers:
            host, _, port = server.rpartition(":")
            try:
                with socket.create_connection((host or "localhost", int(port or 9092)), timeout=0.5):
                    self._reachable_at = now
                    return True
            except OSError:
                continue
        return False

    def publish(self, accepted: list[tuple[int, Record]], rejected: list[tuple[int, Any, Rejection]]) -> None:
        """Send everything and wait for acks=all on each record; raise KafkaUnavailable otherwise."""
        if not self.reachable():
            raise KafkaUnavailable("Kafka is unreachable")
        send = self._producer.send
        by_type = self._topics.by_record_type
        now = time.time()
        try:
            futures = [
                send(by_type[rec.record_type], key=rec.key.encode(), value=orjson.dumps(rec.to_payload()))
                for _, rec in accepted
            ]
            futures += [send(self._topics.rejected, value=rejected_message(i, raw, rej, now))
                         for i, raw, rej in rejected]
            deadline = time.monotonic() + self._ack_timeout_s
            for future in futures:
                future.get(timeout=max(0.001, deadline - time.monotonic()))
        except KafkaError as exc:
            self._reachable_at = 0.0
            raise KafkaUnavailable(f"Kafka did not acknowledge: {type(exc).__name__}") from exc
