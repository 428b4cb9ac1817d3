"""Stored signals against the recomputed ones: which are missing, wrong or not expected at all.

Shared by the backfill (which fixes the differences) and the reconciliation (which reports
them). Signals are matched by (instant in microseconds, rule) — the table's key within one
symbol and timeframe — so the text form of a timestamp never matters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.orchestration.batch import TS_MICROS
from services.orchestration.indicators.recompute import Chunk, ExpectedSignal

__all__ = ["SignalDiff", "StoredSignal", "diff_signals", "stored_signals"]


@dataclass(frozen=True, slots=True)
class StoredSignal:
    us: int
    rule: str
    side: str
    price: float
    value: float
    reference: float


@dataclass(slots=True)
class SignalDiff:
    missing: list[ExpectedSignal] = field(default_factory=list)  # expected, not stored
    wrong: list[ExpectedSignal] = field(default_factory=list)  # stored with another side or numbers
    wrong_stored: list[StoredSignal] = field(default_factory=list)  # what was stored for `wrong`, same order
    extra: list[tuple[int, str]] = field(default_factory=list)  # (us, rule) stored, not expected
    extra_stored: list[StoredSignal] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.missing) + len(self.wrong) + len(self.extra)


def stored_signals(cur: Any, chunk: Chunk) -> dict[tuple[int, str], StoredSignal]:
    """The stored signals of the chunk's symbol and timeframe in its signal range."""
    lo, hi = chunk.signal_range
    cur.execute(f"SELECT {TS_MICROS}, rule, side, price, value, reference "
                "FROM signals WHERE symbol = %s AND timeframe = %s AND ts >= %s AND ts <= %s",
                (chunk.symbol, chunk.timeframe, lo, hi))
    return {(int(row[0]), row[1]): StoredSignal(int(row[0]), *row[1:]) for row in cur.fetchall()}


def diff_signals(stored: dict[tuple[int, str], StoredSignal], expected: list[ExpectedSignal],
                 tolerance: float) -> SignalDiff:
    def close(a: float, b: float) -> bool:
        return abs(a - b) <= tolerance * max(1.0, abs(b))

    diff = SignalDiff()
    keys = set()
    for sig in expected:
        keys.add((sig.us, sig.rule))
        have = stored.get((sig.us, sig.rule))
        if have is None:
            diff.missing.append(sig)
        elif have.side != sig.side or not all(close(x, y) for x, y in zip(
                (have.price, have.value, have.reference), (sig.price, sig.value, sig.reference))):
            diff.wrong.append(sig)
            diff.wrong_stored.append(have)
    for key, have in stored.items():
        if key not in keys:
            diff.extra.append(key)
            diff.extra_stored.append(have)
    return diff
