"""ensure_topics on the real broker, and its patience with a busy controller.

A controller that is still loading thousands of partitions after a restart cannot be produced
on demand, so that one case uses a stand-in admin client that times out once (said so below)."""
from __future__ import annotations

import uuid

from kafka.errors import RequestTimedOutError

from services.config import Settings
from services.kafka_io import Topics, _create, delete_topics, ensure_topics, make_admin


def test_topics_are_created_once_then_found(base_settings: Settings) -> None:
    topics = Topics(f"test-create-{uuid.uuid4().hex[:8]}.")
    try:
        first = ensure_topics(base_settings.kafka_bootstrap, topics)
        again = ensure_topics(base_settings.kafka_bootstrap, topics)
        admin = make_admin(base_settings.kafka_bootstrap)
        try:
            described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics([s.name for s in topics.specs])}
        finally:
            admin.close()
    finally:
        delete_topics(base_settings.kafka_bootstrap, topics)
    assert set(first.values()) == {"created"} and set(again.values()) == {"exists"}
    assert described == {s.name: s.partitions for s in topics.specs}


class BusyThenDone:
    """Stand-in admin (a busy controller cannot be made on demand): the first CreateTopics times
    out on the client but the controller still creates `a`; the retry must ask only for `b`."""

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.created: set[str] = set()

    def create_topics(self, new_topics, timeout_ms, wait_for_metadata):  # type: ignore[no-untyped-def]
        self.requests.append(sorted(new_topics))
        if len(self.requests) == 1:
            self.created.add("a")
            raise RequestTimedOutError("Request timed out after 9999 ms")
        self.created.update(new_topics)

    def describe_topics(self, names):  # type: ignore[no-untyped-def]
        return [{"name": n, "partitions": [0], "error_code": 0 if n in self.created else 3} for n in names]


def test_a_timed_out_creation_is_retried_for_what_is_still_missing() -> None:
    admin = BusyThenDone()
    _create(admin, {"a": {"num_partitions": 1}, "b": {"num_partitions": 1}})  # type: ignore[arg-type]
    assert admin.requests == [["a", "b"], ["b"]]
    assert admin.created == {"a", "b"}
