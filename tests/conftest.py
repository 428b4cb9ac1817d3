"""Fixtures for tests on the real local Kafka and PostgreSQL (started by `make test`)."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import Engine, text

from services.config import Settings
from services.db.connect import make_engine
from services.kafka_io import ensure_topics

DATA_TABLES = ("bars", "signals", "order_book", "news_sentiment", "market_data", "economic_indicators",
               "late_bars", "dead_letters", "processor_offsets", "symbol_state")


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def owner_db(base_settings: Settings) -> Iterator[Engine]:
    engine = make_engine(base_settings.admin_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def stack(base_settings: Settings, owner_db: Engine, tmp_path: Path) -> Settings:
    """Settings for one test: its own topic namespace and consumer group, and empty tables."""
    tag = uuid.uuid4().hex[:8]
    settings = base_settings.model_copy(update={
        "kafka_topic_prefix": f"test-{tag}.", "processor_group": f"test-{tag}",
    })
    ensure_topics(settings.kafka_bootstrap, settings.topics)
    with owner_db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(DATA_TABLES)}"))
    return settings

