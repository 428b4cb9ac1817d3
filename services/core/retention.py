"""Data lifecycle rules: which time partitions a table should have, and which have expired.

The tables that grow with the feed are range-partitioned on time (sql/0030_time_partitions.sql).
Every partition holds one *tier* of data — raw base bars, one candle length, market events, rejects
— and one UTC period of it: a day, a month or a year, by how long the tier keeps its rows (a tier
kept for days is dropped a day at a time; one kept for years or for good needs no finer pieces).
A partition expires when its whole range is older than its tier: then every row in it is, and it
leaves whole. Nothing here does I/O (the adapter is services/db/partitions.py).

Rows can arrive for any time the record contract allows (1900 up to a few seconds ahead); those
outside every partition wait in the table's DEFAULT partition until maintenance plans a home for
them. A home for an old row is its year rather than its day — a replayed decade makes ten
partitions, not 3,650 — clipped so that it never overlaps a partition that already exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Iterable, Sequence

from services.core.timeframes import RAW, Timeframe

UTC = timezone.utc
KEEP_FOREVER = 0  # a tier of 0 days is never dropped
AHEAD = timedelta(days=7)  # partitions exist at least this far ahead of the clock


class Period(Enum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"

    def floor(self, t: datetime) -> datetime:
        t = t.astimezone(UTC)
        if self is Period.DAY:
            return datetime(t.year, t.month, t.day, tzinfo=UTC)
        if self is Period.MONTH:
            return datetime(t.year, t.month, 1, tzinfo=UTC)
        return datetime(t.year, 1, 1, tzinfo=UTC)

    def next(self, start: datetime) -> datetime:
        """The start of the period after the one starting at `start`."""
        if self is Period.DAY:
            return start + timedelta(days=1)
        if self is Period.MONTH:
            return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start.replace(year=start.year + 1)

    def label(self, start: datetime) -> str:
        return start.strftime({Period.DAY: "%Y%m%d", Period.MONTH: "%Y%m", Period.YEAR: "%Y"}[self])


def period_for(keep_days: int) -> Period:
    """Partition size for a tier: at most about two months of partitions for what is kept briefly."""
    if keep_days == KEEP_FOREVER or keep_days > 3 * 366:
        return Period.YEAR
    return Period.DAY if keep_days <= 62 else Period.MONTH


@dataclass(frozen=True, slots=True)
class Tier:
    """How long one kind of data is kept (0: for good)."""

    name: str
    keep_days: int

    @property
    def period(self) -> Period:
        return period_for(self.keep_days)

    def cutoff(self, now: datetime) -> datetime | None:
        """Rows before this are expired; None: nothing ever is."""
        return None if self.keep_days == KEEP_FOREVER else now - timedelta(days=self.keep_days)


@dataclass(frozen=True, slots=True)
class Range:
    """A partition's time range [lo, hi) within one slice of a table (one timeframe, or the whole table)."""

    lo: datetime
    hi: datetime

    def holds(self, t: datetime) -> bool:
        return self.lo <= t < self.hi


def home_for(t: datetime, tier: Tier, existing: Sequence[Range], now: datetime) -> Range | None:
    """The partition to create for a row at `t`, or None if an existing one already holds it.

    Its tier's period; a year (ending where the tier's periods begin) once `t` is older than the tier
    keeps. Either cut back so that it overlaps no existing range."""
    if any(r.holds(t) for r in existing):
        return None
    cutoff = tier.cutoff(now)
    window = None if cutoff is None else tier.period.floor(cutoff)  # where the tier's own periods begin
    if window is not None and t < window:  # already expired: one piece for its year, up to the window
        lo, hi = Period.YEAR.floor(t), min(Period.YEAR.next(Period.YEAR.floor(t)), window)
    else:
        lo = tier.period.floor(t)
        hi = tier.period.next(lo)
    for r in existing:
        if r.hi <= t:
            lo = max(lo, r.hi)
        elif r.lo > t:
            hi = min(hi, r.lo)
    return Range(lo, hi)


def plan(tier: Tier, existing: Iterable[Range], waiting: Iterable[datetime], now: datetime) -> list[Range]:
    """The partitions to create: a home for every row time in `waiting` (rows in the DEFAULT
    partition) and the tier's periods from now to AHEAD, in time order, overlapping nothing."""
    ranges = list(existing)
    created: list[Range] = []
    wanted = sorted(set(waiting))
    start = tier.period.floor(now)
    while start <= now + AHEAD:
        wanted.append(start)
        start = tier.period.next(start)
    for t in wanted:
        home = home_for(t, tier, ranges, now)
        if home is not None:
            ranges.append(home)
            created.append(home)
    return sorted(created, key=lambda r: r.lo)


def expired(tier: Tier, ranges: Iterable[Range], now: datetime) -> list[Range]:
    """The ranges whose every row is older than the tier keeps (none for a tier kept for good)."""
    cutoff = tier.cutoff(now)
    return [] if cutoff is None else sorted((r for r in ranges if r.hi <= cutoff), key=lambda r: r.lo)


def covered_until(ranges: Iterable[Range], now: datetime) -> datetime:
    """Where the partitions covering `now` without a gap end (`now` itself: none covers it)."""
    t = now
    for r in sorted(ranges, key=lambda r: r.lo):
        if r.lo <= t < r.hi:
            t = r.hi
    return t


def covered_ahead(ranges: Iterable[Range], now: datetime) -> bool:
    """Whether partitions cover the whole of [now, now + AHEAD) without a gap."""
    return covered_until(ranges, now) >= now + AHEAD


# Partitions reach at least this far ahead while the daily maintenance runs: right after it they
# reach the end of the day a week ahead, so a day later (just before the next run) 6 days and a few
# hours. Less means a maintenance run was missed; rows land in DEFAULT partitions when it reaches 0.
MIN_AHEAD = AHEAD - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The tiers (README "Data lifecycle"): bars and their signals by timeframe, the other records,
    rejects, and the platform's own history (check results, reconciliation runs, webhook deliveries)."""

    bars_days: tuple[tuple[str, int], ...] = ((RAW, 7), ("1m", 90))  # a timeframe not listed is kept
    market_days: int = 7  # order book, news sentiment, market data, economic indicators
    reject_days: int = 30  # late bars and dead letters
    history_days: int = 30  # deployment check results, reconciliation runs
    webhook_days: int = 7  # finished webhook deliveries: as long as the raw signals they announced

    def for_timeframe(self, timeframe: str) -> Tier:
        return Tier(timeframe, dict(self.bars_days).get(timeframe, KEEP_FOREVER))

    @property
    def market(self) -> Tier:
        return Tier("market", self.market_days)

    @property
    def rejects(self) -> Tier:
        return Tier("rejects", self.reject_days)

    @property
    def history(self) -> Tier:
        return Tier("history", self.history_days)

    @property
    def webhooks(self) -> Tier:
        return Tier("webhooks", self.webhook_days)


def parse_bars_days(text: str) -> tuple[tuple[str, int], ...]:
    """`"raw=7,1m=90"` -> (("raw", 7), ("1m", 90)): days kept per timeframe (raw or a timeframe's name)."""
    found: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, days = part.partition("=")
        if not sep or not days.strip().isdigit():
            raise ValueError(f"{part!r}: expected timeframe=days, e.g. raw=7 or 1m=90 (0 keeps for good)")
        name = name.strip().lower()
        found[name if name == RAW else Timeframe.parse(name).name] = int(days)
    return tuple(found.items())
