"""The real ingest -> Kafka -> processor for the replay's tests: one pipeline per test module, each test
replaying its own symbols (ingest accepts every well-formed symbol) and reading only their rows."""
from __future__ import annotations

from typing import Iterator

import pytest
from namespaces import namespaced, own_topics
from running_services import RunningPipeline, ingest_and_processor
from sqlalchemy import Engine
from streams import truncate_outputs

from services.config import Settings


@pytest.fixture(scope="module")
def stack(base_settings: Settings, owner_db: Engine) -> Iterator[Settings]:
    """One namespace for the module: each test replays its own symbol and reads only that symbol's rows."""
    with own_topics(namespaced(base_settings, "test-replay")) as settings:
        truncate_outputs(owner_db)
        yield settings


@pytest.fixture(scope="module")
def pipeline(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPipeline]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TICKFLOW_SYMBOL_PATTERN", ".*")  # ingest accepts every well-formed symbol
        with ingest_and_processor(stack, tmp_path_factory.mktemp("replay")) as running:
            running.ingest.outlive_test()
            running.processor.outlive_test()
            yield running
