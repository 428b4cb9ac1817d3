"""The storage figures' arithmetic (services/core/storage.py): growth per day, days until full, verdicts."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from services.config import Settings, parse_bytes
from services.core.retention import AHEAD, MIN_AHEAD, Period, Tier, covered_until, plan
from services.core.storage import (
    KEEP,
    Sample,
    StorageFigures,
    days_until_full,
    growth_per_day,
    should_sample,
    size,
    storage_problems,
    volume,
)

UTC = timezone.utc
NOW = datetime(2026, 12, 7, 13, 30, tzinfo=UTC)
GB = 10**9


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def test_growth_is_measured_over_whole_days_so_the_daily_drop_cancels() -> None:
    # a saw-tooth: +1.5 GB a day, 1.4 GB dropped every day at 03:30: net +0.1 GB/day
    def size_at(t: datetime) -> int:
        drops = sum(1 for d in range(-6, 1) if NOW.replace(hour=3, minute=30) + timedelta(days=d) <= t)
        return int(10 * GB + 1.5 * GB * ((t - ago(days=5)) / timedelta(days=1)) - 1.4 * GB * drops)

    samples = [Sample(t, size_at(t)) for t in (ago(days=5) + timedelta(minutes=15 * n) for n in range(4 * 24 * 5))]
    current = Sample(NOW, size_at(NOW))
    growth = growth_per_day(samples, current)
    assert growth is not None and growth.since.at == ago(days=5)  # 5 whole days: the oldest sample
    assert growth.bytes_per_day == pytest.approx(0.1 * GB)
    # with 3.6 days of samples, the one nearest to 3 days ago (not the oldest) is the baseline
    growth = growth_per_day([s for s in samples if s.at >= ago(days=3.6)], current)
    assert growth is not None and growth.since.at == ago(days=3) and growth.span(NOW) == timedelta(days=3)
    assert growth.bytes_per_day == pytest.approx(0.1 * GB)


def test_growth_over_less_than_a_day_and_without_samples() -> None:
    current = Sample(NOW, 3 * GB)
    assert growth_per_day([], current) is None
    assert growth_per_day([Sample(ago(minutes=59), GB)], current) is None, "an hour at least"
    growth = growth_per_day([Sample(ago(minutes=30), GB), Sample(ago(hours=6), 2 * GB)], current)
    assert growth is not None and growth.since == Sample(ago(hours=6), 2 * GB)
    assert growth.bytes_per_day == 4 * GB  # 1 GB in a quarter of a day
    # more than 7 whole days: measured over 7; older than KEEP: ignored
    old = [Sample(ago(days=d), (10 - d) * GB) for d in (1, 7, 8)] + [Sample(NOW - KEEP - timedelta(hours=1), 0)]
    growth = growth_per_day(old, Sample(NOW, 10 * GB))
    assert growth is not None and growth.since.at == ago(days=7) and growth.bytes_per_day == GB
    shrinking = growth_per_day([Sample(ago(days=2), 5 * GB)], Sample(NOW, 4 * GB))
    assert shrinking is not None and shrinking.bytes_per_day == -GB / 2


def test_days_until_full() -> None:
    assert days_until_full(40 * GB, 100 * GB, 2 * GB) == 30
    assert days_until_full(40 * GB, None, 2 * GB) is None
    assert days_until_full(40 * GB, 100 * GB, None) is None
    assert days_until_full(40 * GB, 100 * GB, 0) == math.inf
    assert days_until_full(40 * GB, 100 * GB, -GB) == math.inf
    assert days_until_full(100 * GB, 100 * GB, GB) == 0
    assert should_sample(None, NOW) and should_sample(ago(minutes=15), NOW) and not should_sample(ago(minutes=14), NOW)


def figures(volume_bytes: int | None, growth_bytes: int, reach_days: float = 7.5) -> StorageFigures:
    growth = growth_per_day([Sample(ago(days=2), 12 * GB - growth_bytes)], Sample(NOW, 12 * GB))
    reach = {"bars/raw": NOW + timedelta(days=reach_days), "bars/1d": datetime(2028, 1, 1, tzinfo=UTC)}
    return StorageFigures(NOW, 12 * GB, 20 * GB, volume_bytes, growth, reach=reach)


def test_the_verdicts_name_what_and_why() -> None:
    assert storage_problems(figures(100 * 2**30, 2 * GB), 7) == []
    assert storage_problems(figures(None, 200 * GB), 7) == [], "no volume size: no days-left verdict"
    full = figures(20 * GB + 30 * GB, 20 * GB)  # 30 GB free, +10 GB/day: 3 days
    assert full.days_left == 3
    assert storage_problems(full, 7) == [
        "the volume is full in 3.0 days (limit 7): 20.0 GB of 46.6 GiB used, +10.0 GB/day; shorten a retention "
        "tier (TICKFLOW_RETENTION_*) or grow the volume"]
    late = figures(None, 0, reach_days=4.25)
    assert late.missing_ahead == ["bars/raw"] and late.ahead_days()["bars/raw"] == 4.25
    assert storage_problems(late, 7) == [
        "partitions reach only 4.2 days ahead (at least 6 wanted) for bars/raw: did data_retention run? (rows "
        "beyond them land in DEFAULT partitions; python -m services.admin partitions creates them)"]


def test_a_day_after_the_daily_maintenance_partitions_still_count_as_ahead() -> None:
    """Maintenance makes the periods up to a week ahead; just before the next daily run they reach
    6 days and some hours: MIN_AHEAD tolerates that, and fails once one run was missed."""
    ranges = plan(Tier("raw", 7), [], [], NOW)
    assert covered_until(ranges, NOW) == datetime(2026, 12, 15, tzinfo=UTC) and Period.DAY == Tier("raw", 7).period
    before_next_run = NOW + timedelta(hours=23, minutes=59)
    assert covered_until(ranges, before_next_run) - before_next_run >= MIN_AHEAD
    assert covered_until(ranges, before_next_run) - before_next_run < AHEAD, "a week would fail every night"
    missed_one = NOW + timedelta(days=1, hours=23)
    assert covered_until(ranges, missed_one) - missed_one < MIN_AHEAD
    assert covered_until([], NOW) == NOW


def test_sizes_read_and_written() -> None:
    assert [size(n) for n in (512, 12_300, 1_234_567_890)] == ["512 B", "12.3 kB", "1.2 GB"]
    assert size(1.1 * GB, sign=True) == "+1.1 GB" and size(-20e6, sign=True) == "-20.0 MB"
    assert volume(100 * 2**30) == "100 GiB" and volume(int(1.5 * 2**40)) == "1.5 TiB"
    assert parse_bytes("50Gi") == 50 * 2**30 and parse_bytes("107374182400") == 100 * 2**30
    assert parse_bytes("100G") == 100 * GB and parse_bytes(" ") is None
    with pytest.raises(ValueError, match="expected bytes"):
        parse_bytes("lots")
    assert Settings(storage_volume_bytes="10Gi").storage_volume_bytes == 10 * 2**30
