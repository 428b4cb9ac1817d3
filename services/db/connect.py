"""Engines for the three database identities: owner (migrations), writer (services), reader (people)."""
from __future__ import annotations

from sqlalchemy import Engine, create_engine


def sqlalchemy_url(url: str) -> str:
    """Accept plain libpq URLs (postgresql://...) and pin the psycopg2 driver."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url.split('@')[-1]!r}")


def make_engine(url: str, **kwargs: object) -> Engine:
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(sqlalchemy_url(url), **kwargs)
