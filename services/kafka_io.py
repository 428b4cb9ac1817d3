"""Kafka adapter: topic layout, producer and consumer factories, topic creation.

Only portable client features are used (idempotent producer, consumer groups, admin
create/describe), so the same code runs against the local Kafka 2.3 broker and the KRaft-mode
brokers of docker compose and Kubernetes.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cached_property

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
)

from services.core.records import RECORD_MODELS
from services.logs import event

log = logging.getLogger(__name__)


# The broker stamps each record with the time it appends it, overwriting the producer's: the clock
# the processor judges event time by (services/processor/transaction.py), which no producer can set
# and a replay of the topic sees unchanged.
STAMPED_BY_BROKER = {"message.timestamp.type": "LogAppendTime"}


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    configs: tuple[tuple[str, str], ...] = ()  # topic configs, set on creation and on every ensure_topics


@dataclass(frozen=True)
class Topics:
    """Tickflow's topic names. A prefix gives a separate namespace (tests, side-by-side stacks)."""

    prefix: str = ""

    @property
    def prices(self) -> str:
        return f"{self.prefix}market.prices"

    @cached_property
    def by_record_type(self) -> dict[str, str]:
        return {
            "stock_price": self.prices,
            "order_book": f"{self.prefix}market.order_book",
            "news_sentiment": f"{self.prefix}market.news_sentiment",
            "market_data": f"{self.prefix}market.market_data",
            "economic_indicator": f"{self.prefix}market.economic_indicators",
        }

    @cached_property
    def record_type_of_topic(self) -> dict[str, str]:
        return {topic: kind for kind, topic in self.by_record_type.items()}

    @property
    def rejected(self) -> str:
        return f"{self.prefix}ingest.rejected"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}processor.dead_letter"

    @property
    def specs(self) -> tuple[TopicSpec, ...]:
        """Every topic with its partition count (prices: 6, so up to 6 processors share the load)."""
        by_type = self.by_record_type
        stamped = tuple(STAMPED_BY_BROKER.items())
        return (
            TopicSpec(by_type["stock_price"], 6, stamped),
            TopicSpec(by_type["order_book"], 3, stamped),
            TopicSpec(by_type["news_sentiment"], 3, stamped),
            TopicSpec(by_type["market_data"], 3, stamped),
            TopicSpec(by_type["economic_indicator"], 1, stamped),
            TopicSpec(self.rejected, 1),
            TopicSpec(self.dead_letter, 1),
        )


assert set(Topics().by_record_type) == set(RECORD_MODELS), "every record type needs a topic"


def make_producer(bootstrap: str, **overrides: object) -> KafkaProducer:
    """An idempotent, acks=all producer that fails fast instead of hanging when Kafka is away."""
    config: dict[str, object] = dict(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
        max_block_ms=5_000,
        request_timeout_ms=5_000,
        delivery_timeout_ms=10_000,
        bootstrap_timeout_ms=5_000,
        reconnect_backoff_max_ms=1_000,
    )
    config.update(overrides)
    return KafkaProducer(**config)


def make_consumer(bootstrap: str, group: str | None, **overrides: object) -> KafkaConsumer:
    """A consumer with manual offset control: the processor stores offsets in PostgreSQL."""
    config: dict[str, object] = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=5_000,
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=2_000,
        bootstrap_timeout_ms=10_000,
        reconnect_backoff_max_ms=1_000,
        # A consumer that subscribed before its topics existed (first deploy, fresh test topics)
        # gets no partitions until its metadata refreshes: look again every 5 s, not every 5 min.
        metadata_max_age_ms=5_000,
    )
    config.update(overrides)
    return KafkaConsumer(**config)


def make_admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, bootstrap_timeout_ms=10_000)


def _existing(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Which of `names` exist, with their partition counts. Asks about these topics only: the
    metadata of every topic in a busy cluster can take longer than the request timeout."""
    return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names) if not t.get("error_code")}


def _create(admin: KafkaAdminClient, new_topics: dict[str, dict[str, object]], patience_s: float = 90.0) -> None:
    """Create topics, waiting out a controller that is still busy: a broker that just started
    with thousands of partitions on disk answers CreateTopics only once it has loaded them.
    A timed-out request may still be carried out, so each retry asks only for what is missing."""
    deadline = time.monotonic() + patience_s
    while new_topics:
        try:
            admin.create_topics(new_topics, timeout_ms=10_000, wait_for_metadata=True)
            return
        except TopicAlreadyExistsError:
            pass  # another process (or an earlier attempt of ours) created some of them
        except (RequestTimedOutError, KafkaTimeoutError) as exc:
            if time.monotonic() > deadline:
                raise
            event(log, "Kafka controller busy; retrying topic creation", logging.WARNING, error=str(exc))
        existing = _existing(admin, list(new_topics))
        new_topics = {name: spec for name, spec in new_topics.items() if name not in existing}


def ensure_topics(bootstrap: str, topics: Topics, replication_factor: int = 1,
                  patience_s: float = 120.0) -> dict[str, str]:
    """Create missing topics with explicit partition counts; check existing ones.

    Returns {topic: "created" | "exists"}; raises RuntimeError if an existing topic has
    fewer partitions than required (Kafka cannot shrink them and keys would move). A broker
    that is unreachable or not answering yet (just started on a busy machine) is retried for
    `patience_s` seconds before the last error is raised.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return _ensure_topics_once(bootstrap, topics, replication_factor)
        except (KafkaTimeoutError, KafkaConnectionError, RequestTimedOutError) as exc:
            if time.monotonic() > deadline:
                raise
            event(log, "Kafka not answering yet; retrying", logging.WARNING, bootstrap=bootstrap,
                  error=f"{type(exc).__name__}: {exc}", patience_s=patience_s)
            time.sleep(1.0)


def _ensure_topics_once(bootstrap: str, topics: Topics, replication_factor: int) -> dict[str, str]:
    admin = make_admin(bootstrap)
    try:
        specs = topics.specs
        existing = _existing(admin, [t.name for t in specs])
        result: dict[str, str] = {}
        missing = [t for t in specs if t.name not in existing]
        if missing:
            _create(admin, {t.name: {"num_partitions": t.partitions, "replication_factor": replication_factor,
                                     "configs": dict(t.configs)} for t in missing})
        configured = [ConfigResource(ConfigResourceType.TOPIC, t.name, configs=dict(t.configs))
                      for t in specs if t.name in existing and t.configs]
        if configured:  # topics made before a config was added to their spec get it too (idempotent)
            refused = {name: str(result) for name, result in admin.alter_configs(configured).get("topic", {}).items()
                       if result != "OK"}
            if refused:  # the processor then judges by the producer's time, capped by its own clock
                event(log, "could not set topic configs", logging.WARNING, refused=refused)
        for t in specs:
            if t.name in existing:
                if existing[t.name] < t.partitions:
                    raise RuntimeError(
                        f"topic {t.name} has {existing[t.name]} partitions, {t.partitions} required"
                    )
                result[t.name] = "exists"
            else:
                result[t.name] = "created"
            event(log, "topic ready", topic=t.name, partitions=t.partitions, state=result[t.name])
        return result
    finally:
        admin.close()


def delete_topics(bootstrap: str, topics: Topics) -> None:
    """Delete a namespace's topics (tests and benchmarks clean up after themselves); best effort."""
    admin = make_admin(bootstrap)
    try:
        doomed = list(_existing(admin, [t.name for t in topics.specs]))
        if doomed:
            admin.delete_topics(doomed, timeout_ms=10_000, raise_errors=False)
    except KafkaError as exc:
        log.warning("could not delete topics: %s", exc)
    finally:
        admin.close()


def coordinator_known(consumer: KafkaConsumer) -> bool:
    """Does the consumer know its group coordinator and hold a live connection to it? False while the
    broker is away (the client looks for it again on every poll)."""
    return not consumer._coordinator.coordinator_unknown()  # no public API tells


def finish_stranded_join(consumer: KafkaConsumer) -> bool:
    """Make the next poll complete a group join kafka-python 3.0.12 would otherwise leave unfinished.

    It re-awaits a background join on the next poll only while need_rejoin() is true. A group
    leader rejoining after a metadata change (every fresh start does once) stops needing to rejoin
    as soon as it has computed the assignment, before its SyncGroup is answered; when the poll
    that started the join returned in that window, no later poll finished it, and the member stayed
    "rebalancing" with heartbeats off, fetching nothing (about 1 fresh start in 8 here). Called
    between polls while the group is not stable: asking to rejoin makes the next poll await that
    join (or run a new one). Returns True if the join was stranded.
    """
    coordinator = consumer._coordinator  # no public API exposes the join state
    if coordinator.need_rejoin():
        return False
    coordinator.request_rejoin()
    return True
