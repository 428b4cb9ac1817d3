"""Fixtures for services/orchestration tests: bars and signals as the streaming engine writes them."""
from __future__ import annotations

from typing import Callable, Sequence

import pytest
from orchestration_data import ORCHESTRATION_TABLES, StreamData, insert_stream_data, stream_rows
from sqlalchemy import Engine, text

from services.config import Settings


@pytest.fixture
def orch_db(stack: Settings, owner_db: Engine) -> Engine:
    """The owner engine on empty data tables and empty orchestration tables."""
    with owner_db.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(ORCHESTRATION_TABLES)}"))
    return owner_db


@pytest.fixture
def stream_data(orch_db: Engine) -> Callable[..., StreamData]:
    """Insert a seeded simulation as the stream would have stored it; returns what is stored."""

    def make(symbols: Sequence[str] = ("AAPL", "MSFT"), bars_per_symbol: int = 1500, **kwargs: object) -> StreamData:
        bars, signals = stream_rows(symbols, bars_per_symbol, **kwargs)  # type: ignore[arg-type]
        return insert_stream_data(orch_db, bars, signals)

    return make
