"""Fixtures for the ingest tests."""
from __future__ import annotations

from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from services.config import Settings
from services.ingest.app import create_app
from services.ingest.ops import ops_app


@pytest.fixture
def client(stack: Settings) -> Iterator[TestClient]:
    """The ingest app in this process, publishing to the test's own topics."""
    with TestClient(create_app(stack)) as c:
        yield c


@pytest.fixture
def ops(client: TestClient) -> TestClient:
    """The operations port's app (metrics, docs) of the `client` app."""
    return TestClient(ops_app(client.app))
