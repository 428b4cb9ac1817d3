"""A test's own corner of the shared Kafka: its topic prefix and consumer group, and its topics."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

from services.config import Settings
from services.kafka_io import delete_topics, ensure_topics


def namespaced(base: Settings, prefix: str = "test", **settings: object) -> Settings:
    """`base` with a topic prefix and consumer group no other test uses (`<prefix>-<tag>`), and `settings`
    (validated as the environment is)."""
    tag = uuid.uuid4().hex[:8]
    return base.with_updates(**{"kafka_topic_prefix": f"{prefix}-{tag}.", "processor_group": f"{prefix}-{tag}",
                                   **settings})


@contextmanager
def own_topics(settings: Settings) -> Iterator[Settings]:
    """The topics of `settings`, created on entry and deleted on leaving.

    Deleted because thousands of leftover partitions slow every broker restart.
    """
    ensure_topics(settings.kafka_bootstrap, settings.topics)
    try:
        yield settings
    finally:
        delete_topics(settings.kafka_bootstrap, settings.topics)
