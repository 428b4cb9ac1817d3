"""How full the database is and how fast it fills: the storage figures, from size samples over time.

The database grows with the feed and shrinks when data_retention drops a day's partitions, so its
size is a saw-tooth with a period of a day. Growth per day is therefore measured over whole days
where the samples allow it: the size now against the sample nearest to exactly 1..7 days ago (the
most whole days the samples cover), which cancels the daily drop and leaves what really
accumulates (candles kept for good, a tier that has not reached its length yet). With less than a
day of samples it is the growth since the oldest one at least `MIN_SPAN` old, which overstates
while retention still drops daily (a warning that errs early, never late).

Samples are kept `KEEP` long, one per `SAMPLE_EVERY` at most (about 770 rows); nothing here does I/O
(the adapter is services/db/storage.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from services.core.retention import MIN_AHEAD

DAY = timedelta(days=1)
MIN_SPAN = timedelta(hours=1)  # no growth figure from samples closer together than this
MAX_DAYS = 7  # growth is measured over at most this many whole days
KEEP = timedelta(days=MAX_DAYS + 1)  # samples older than this are deleted
SAMPLE_EVERY = timedelta(minutes=15)  # a new sample only once the newest is this old


@dataclass(frozen=True, slots=True)
class Sample:
    at: datetime
    bytes: int


@dataclass(frozen=True, slots=True)
class Growth:
    bytes_per_day: float
    since: Sample  # the sample it is measured from

    def span(self, now: datetime) -> timedelta:
        return now - self.since.at


def growth_per_day(samples: Iterable[Sample], current: Sample) -> Growth | None:
    """The growth per day of `current` against the earlier samples (see the module docstring); None
    when no sample is at least `MIN_SPAN` older than it."""
    now = current.at
    usable = [s for s in samples if MIN_SPAN <= now - s.at <= KEEP]
    if not usable:
        return None
    oldest = max(now - s.at for s in usable)
    whole_days = min(MAX_DAYS, int(oldest / DAY))
    if whole_days >= 1:
        target = whole_days * DAY
        since = min(usable, key=lambda s: (abs((now - s.at) - target), s.at))
    else:
        since = min(usable, key=lambda s: s.at)
    days = (now - since.at) / DAY
    return Growth((current.bytes - since.bytes) / days, since)


def days_until_full(used_bytes: int, volume_bytes: int | None, bytes_per_day: float | None) -> float | None:
    """Days until `used_bytes` growing by `bytes_per_day` reaches `volume_bytes`: None when the volume
    or the growth is unknown, infinity when nothing grows, 0 when already full."""
    if volume_bytes is None or bytes_per_day is None:
        return None
    free = volume_bytes - used_bytes
    if free <= 0:
        return 0.0
    return math.inf if bytes_per_day <= 0 else free / bytes_per_day


def should_sample(newest: datetime | None, now: datetime) -> bool:
    return newest is None or now - newest >= SAMPLE_EVERY


@dataclass(frozen=True, slots=True)
class StorageFigures:
    """What the storage check judges and the dashboard exports as metrics."""

    measured_at: datetime  # the database's clock
    database_bytes: int  # pg_database_size(current_database())
    used_bytes: int  # every database on the volume (the default tablespace): what fills it
    volume_bytes: int | None  # the setting; None: unknown
    growth: Growth | None  # of database_bytes
    table_bytes: Mapping[str, int] = field(default_factory=dict)  # each partitioned table, DEFAULT included
    default_rows: Mapping[str, int] = field(default_factory=dict)  # rows waiting in each DEFAULT partition
    reach: Mapping[str, datetime] = field(default_factory=dict)  # per slice ("bars/raw"): where its partitions end

    @property
    def bytes_per_day(self) -> float | None:
        return None if self.growth is None else self.growth.bytes_per_day

    @property
    def days_left(self) -> float | None:
        return days_until_full(self.used_bytes, self.volume_bytes, self.bytes_per_day)

    def ahead_days(self) -> dict[str, float]:
        """Per slice, how many days ahead of `measured_at` its partitions reach (0: not even now)."""
        return {name: (end - self.measured_at) / DAY for name, end in self.reach.items()}

    @property
    def missing_ahead(self) -> list[str]:
        """The slices whose partitions reach less than MIN_AHEAD ahead: a maintenance run was missed."""
        return [name for name, end in self.reach.items() if end - self.measured_at < MIN_AHEAD]


def storage_problems(figures: StorageFigures, min_days: float) -> list[str]:
    """Why the storage check fails (empty: it passes)."""
    problems = []
    if figures.missing_ahead:
        ahead = figures.ahead_days()
        short = sorted(figures.missing_ahead, key=lambda name: ahead[name])
        named = ", ".join(short[:4]) + (f" and {len(short) - 4} more" if len(short) > 4 else "")
        problems.append(f"partitions reach only {ahead[short[0]]:.1f} days ahead (at least {MIN_AHEAD.days} "
                        f"wanted) for {named}: did data_retention run? (rows beyond them land in DEFAULT "
                        "partitions; python -m services.admin partitions creates them)")
    days = figures.days_left
    if days is not None and days < min_days:
        problems.append(f"the volume is full in {days:.1f} days (limit {min_days:g}): "
                        f"{size(figures.used_bytes)} of {volume(figures.volume_bytes or 0)} used, "
                        f"{size(figures.bytes_per_day or 0, sign=True)}/day; shorten a retention tier "
                        "(TICKFLOW_RETENTION_*) or grow the volume")
    return problems  # rows waiting in a DEFAULT partition are reported, not judged: maintenance homes them


def size(n: float, sign: bool = False) -> str:
    """1.2 GB, 340 MB, 12 kB (decimal units); `sign`: +1.1 GB, -20 MB."""
    prefix = ("+" if n >= 0 else "-") if sign else ("-" if n < 0 else "")
    n = abs(n)
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{prefix}{n / scale:.1f} {unit}"
    return f"{prefix}{n:.0f} B"


def volume(n: int) -> str:
    """A volume's size as it is usually given: 100 GiB, 1.5 TiB (binary units)."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"
