"""services.db.binary_copy against the real PostgreSQL: what goes in is what comes out, bit for bit."""
from __future__ import annotations

import io
import math
import struct

import psycopg2
import pytest
from sqlalchemy import Engine

from services.config import Settings
from services.db.binary_copy import BinaryCopy

FLOATS = [1.0, -0.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 123.456789012345678, None, math.pi]


def bits(x: float) -> bytes:
    return struct.pack(">d", x)


def test_every_value_round_trips_exactly_and_nan_carries_null(base_settings: Settings, owner_db: Engine) -> None:
    n = len(FLOATS)
    columns = [list(range(1, n + 1)), [2**62 + i for i in range(n)], FLOATS]
    encoder = BinaryCopy(["smallint", "bigint", "double precision"])
    conn = psycopg2.connect(base_settings.admin_database_url)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE stage (i smallint, v bigint, x double precision)")
            cur.copy_expert("COPY stage FROM STDIN (FORMAT binary)", io.BytesIO(encoder.encode(columns)))
            cur.execute("SELECT i, v, nullif(x, 'NaN') FROM stage ORDER BY i")
            rows = cur.fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == columns[0]
    assert [r[1] for r in rows] == columns[1]
    got = [r[2] for r in rows]
    assert [g is None for g in got] == [f is None for f in FLOATS]  # None → NaN → NULL, nothing else
    assert [bits(g) for g in got if g is not None] == [bits(f) for f in FLOATS if f is not None]


def test_it_refuses_what_it_cannot_lay_out() -> None:
    with pytest.raises(ValueError, match="not a fixed-width type this encoder knows: text"):
        BinaryCopy(["smallint", "text"])
    with pytest.raises(ValueError, match="expected 2 columns, got 1"):
        BinaryCopy(["smallint", "bigint"]).encode([[1]])
