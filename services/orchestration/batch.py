"""What the batch jobs (indicators/, analytics/) share: rows read through COPY into a pandas frame,
and a row's time as exact microseconds."""
from __future__ import annotations

import io
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import pandas as pd

__all__ = ["TS_MICROS", "copy_frame"]

# A row's `ts` as whole microseconds since the epoch, exactly (extract returns numeric): how stored
# rows are matched with recomputed ones.
TS_MICROS = "(extract(epoch FROM ts) * 1000000)::bigint"


def copy_frame(cur: Any, query: str, columns: Sequence[str],
               dtypes: Mapping[str, Any] = MappingProxyType({})) -> pd.DataFrame:
    """The rows of `query` through COPY TO, as a frame of `columns` (float64 unless `dtypes` says)."""
    buf = io.StringIO()
    cur.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)", buf)
    buf.seek(0)
    if not buf.getvalue():
        return pd.DataFrame({c: pd.Series(dtype="object" if dtypes.get(c) is str else dtypes.get(c, "float64"))
                             for c in columns})
    return pd.read_csv(buf, header=None, names=list(columns), dtype=dict(dtypes),
                       keep_default_na=False, na_values=[""])  # pandas 3 parses floats round-trip exactly
