"""SQL statements built from a table's column list, so a store's columns are named once."""
from __future__ import annotations

from collections.abc import Sequence


def upsert_values(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """INSERT ... VALUES %s (psycopg2's execute_values) that replaces a row with the same `key`:
    every other column is overwritten and `computed_at` set to now()."""
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s ON CONFLICT ({', '.join(key)}) "
            f"DO UPDATE SET {updates}, computed_at = now()")
