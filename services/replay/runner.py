"""Sending a history of candles to ingest: paced, batched, retried, counted.

The candles go out in time order (a symbol's bars in the order the processor must apply them),
in batches through the ingest client's `Pusher` (services/ingest_client.py: retries with backoff,
413 splits, per-record verdicts), one batch at a time, so a symbol's bars reach Kafka in order even
across retries. Pacing (`Pace`):

* as fast as ingest takes them (no speed): the next batch as soon as the last one is answered;
* `speed` N: bar i is due N times faster than the history ran, (ts_i - ts_0) / N seconds after the start;
* `retime`: as with a speed (1 unless given), and each bar's timestamp becomes the moment it is due,
  so a historical day plays as a live one (ingest's future-skew limit then always holds).

Re-running a replay is harmless: the processor stores a bar once per (symbol, timeframe, ts) and
records the resent ones in `late_bars` as duplicates.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from services.ingest_client import Pusher

TOP_REASONS = 5


@dataclass(frozen=True)
class Pace:
    speed: float | None = None  # None: as fast as ingest takes it
    retime: bool = False

    def plan(self, ts: np.ndarray, now: float) -> tuple[np.ndarray, np.ndarray | None]:
        """(the timestamps to send, seconds after the start at which each bar is due; None: at once).
        `ts` is sorted (NaN, unreadable times, last); a bar without a time is due at once."""
        speed = self.speed if self.speed is not None else (1.0 if self.retime else None)
        if speed is None or len(ts) == 0:
            return ts, None
        offsets = (ts - ts[0]) / speed  # NaN for a bar without a time: it stays without one
        return (now + offsets if self.retime else ts), np.nan_to_num(offsets, nan=0.0)


@dataclass
class Summary:
    files: list[str] = field(default_factory=list)  # "GOOG.csv: 2148 rows, ohlcv layout, symbol GOOG\n..."
    skipped: int = 0  # rows read and not sent: empty, or a repeated time (--sort)
    rows: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    undelivered: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    stopped: bool = False

    @property
    def ok(self) -> bool:
        return self.accepted == self.rows

    def as_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "skipped": self.skipped, "sent": self.sent, "accepted": self.accepted,
                "rejected": self.rejected,
                "undelivered": self.undelivered, "not_sent": self.rows - self.sent, "seconds": round(self.seconds, 3),
                "records_per_s": round(self.sent / self.seconds) if self.seconds else None,
                "reasons": dict(self.reasons.most_common(TOP_REASONS))}

    def text(self) -> str:
        rate = f" ({self.sent / self.seconds:,.0f} records/s)" if self.seconds else ""
        lines = ["replay summary" + (" (stopped early)" if self.stopped else ""),
                 *(f"  file         {f}".replace("\n", "\n" + " " * 15) for f in self.files),
                 f"  sent         {self.sent:,} of {self.rows:,} candles in {self.seconds:,.1f} s{rate}"
                 + (f" ({self.skipped:,} row(s) skipped, above)" if self.skipped else ""),
                 f"  accepted     {self.accepted:,}",
                 f"  rejected     {self.rejected:,}",
                 f"  undelivered  {self.undelivered:,}"]
        lines += [f"    {n:,} x {reason}" for reason, n in self.reasons.most_common(TOP_REASONS)]
        if len(self.reasons) > TOP_REASONS:
            lines.append(f"    ... and {len(self.reasons) - TOP_REASONS} other reason(s)")
        return "\n".join(lines)


def in_time_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """All files' candles by time (stable: rows of one time keep their file order; no time: last)."""
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return frame.sort_values("ts", kind="stable", na_position="last").reset_index(drop=True)


def records_of(frame: pd.DataFrame, ts: np.ndarray) -> list[dict]:
    """The candles as ingest's stock-price records (every value read: services/replay/files.py stops on
    one it cannot read, so no null goes out)."""
    columns = [frame["symbol"].tolist(), frame["open"].tolist(), frame["close"].tolist(), frame["high"].tolist(),
               frame["low"].tolist(), frame["volume"].tolist(), ts.tolist()]
    names = ("stock_symbol", "opening_price", "closing_price", "high", "low", "volume", "timestamp")
    return [dict(zip(names, row)) for row in zip(*columns)]


def replay(frame: pd.DataFrame, pusher: Pusher, pace: Pace, batch: int, stop: threading.Event,
           progress: bool = False) -> Summary:
    """Send `frame`'s candles (in time order) to ingest; the counts when done or stopped."""
    ts, due = pace.plan(frame["ts"].to_numpy(dtype=float), time.time())
    records = records_of(frame, ts)
    summary = Summary(rows=len(records))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), unit="candle", file=sys.stderr, dynamic_ncols=True)
    start = time.monotonic()
    i = 0
    try:
        while i < len(records):
            end = min(i + batch, len(records))
            if due is not None:
                wait = due[i] - (time.monotonic() - start)
                if wait > 0 and stop.wait(wait):
                    break
                # everything due by now, up to a batch
                end = i + max(1, int(np.searchsorted(due[i:end], time.monotonic() - start, side="right")))
            if stop.is_set():
                break
            result = pusher.push(records[i:end])
            summary.sent += end - i
            summary.accepted += result.accepted
            summary.rejected += result.rejected
            summary.undelivered += result.undelivered
            if bar is not None:
                bar.update(end - i)
            i = end
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.monotonic() - start
    summary.stopped = i < len(records)
    summary.reasons = Counter(pusher.stats.rejection_reasons)
    return summary
