"""PostgreSQL's binary COPY format for rows of fixed-width numbers, encoded with numpy.

Formatting a bar's 17 values as CSV text costs ~8.5 µs in Python (float repr); laying the
same values out as big-endian binary in one numpy record array costs well under 1 µs, and
PostgreSQL parses binary faster too. Binary float8 is the IEEE value itself, so nothing is
rounded on the way.

Every field is fixed-width, so a row is a fixed-size record and a whole batch is one array:
    int16 field count, then per field: int32 byte length, the value (big-endian).
A NULL would be a length of -1 with no value, which breaks the fixed layout, so float columns
carry NULL as NaN; the INSERT that reads the staging table turns it back (`nullif(x, 'NaN')`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")  # signature, flags, extension
TRAILER = (-1).to_bytes(2, "big", signed=True)

# staging-table type -> numpy big-endian type
TYPES = {"smallint": ">i2", "bigint": ">i8", "double precision": ">f8"}


class BinaryCopy:
    """Encode columns of numbers as one `COPY ... FROM STDIN (FORMAT binary)` stream."""

    def __init__(self, column_types: Sequence[str]) -> None:
        unknown = sorted(set(column_types) - set(TYPES))
        if unknown:
            raise ValueError(f"not a fixed-width type this encoder knows: {', '.join(unknown)}")
        self.width = len(column_types)
        fields: list[tuple[str, str]] = [("count", ">i2")]
        for i, kind in enumerate(column_types):
            fields += [(f"len{i}", ">i4"), (f"v{i}", TYPES[kind])]
        self._dtype = np.dtype(fields)
        self._lengths = [np.dtype(TYPES[kind]).itemsize for kind in column_types]

    def encode(self, columns: Sequence[Sequence[float | int | None]]) -> bytes:
        """`columns[i]` holds column i's value for every row (None in a float column: NaN)."""
        if len(columns) != self.width:
            raise ValueError(f"expected {self.width} columns, got {len(columns)}")
        rows = np.empty(len(columns[0]), dtype=self._dtype)
        rows["count"] = self.width
        for i, (values, length) in enumerate(zip(columns, self._lengths)):
            rows[f"len{i}"] = length
            rows[f"v{i}"] = values
        return HEADER + rows.tobytes() + TRAILER
