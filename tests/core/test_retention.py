"""The data lifecycle's rules (services/core/retention.py): which partitions to create, which expired."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.retention import (
    AHEAD,
    Period,
    Range,
    RetentionPolicy,
    Tier,
    covered_ahead,
    expired,
    home_for,
    parse_bars_days,
    period_for,
    plan,
)

UTC = timezone.utc
NOW = datetime(2026, 12, 7, 13, 30, tzinfo=UTC)


def day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_periods_floor_and_step_in_utc() -> None:
    t = datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))  # 2027-01-01 04:59 UTC
    assert Period.DAY.floor(t) == day(2027, 1, 1)
    assert Period.MONTH.next(day(2026, 12, 1)) == day(2027, 1, 1)
    assert Period.MONTH.next(day(2026, 1, 1)) == day(2026, 2, 1)
    assert Period.YEAR.next(day(1900, 1, 1)) == day(1901, 1, 1)
    assert Period.DAY.next(day(2024, 2, 28)) == day(2024, 2, 29)


def test_partition_size_follows_how_long_a_tier_keeps() -> None:
    assert [period_for(d) for d in (1, 7, 30, 62, 63, 90, 365, 1098, 1099, 0)] == [
        Period.DAY, Period.DAY, Period.DAY, Period.DAY, Period.MONTH, Period.MONTH, Period.MONTH, Period.MONTH,
        Period.YEAR, Period.YEAR]


def test_the_plan_covers_today_to_a_week_ahead_in_days() -> None:
    created = plan(Tier("raw", 7), [], [], NOW)
    assert created[0] == Range(day(2026, 12, 7), day(2026, 12, 8))
    assert created[-1].hi > NOW + AHEAD
    assert len(created) == 8 and covered_ahead(created, NOW)
    # run again with what exists: nothing more to create
    assert plan(Tier("raw", 7), created, [], NOW) == []


def test_a_kept_tier_gets_years_and_a_monthly_tier_months() -> None:
    assert plan(Tier("1d", 0), [], [], NOW) == [Range(day(2026, 1, 1), day(2027, 1, 1))]
    assert plan(Tier("1m", 90), [], [], NOW) == [Range(day(2026, 12, 1), day(2027, 1, 1))]
    # near a month's end the next month exists a week ahead
    late = datetime(2026, 12, 28, tzinfo=UTC)
    assert plan(Tier("1m", 90), [], [], late)[-1] == Range(day(2027, 1, 1), day(2027, 2, 1))


def test_an_old_row_gets_its_year_cut_back_to_what_exists() -> None:
    tier = Tier("raw", 7)
    existing = plan(tier, [], [], NOW)
    # a replayed bar from 1900 and one from November: years, the second ending where the days begin
    # (the day holding the cutoff, 2026-11-30), and the days up to the existing ones
    homes = plan(tier, existing, [day(1900, 1, 1), datetime(2026, 11, 3, 12, tzinfo=UTC),
                                  datetime(2026, 12, 1, 12, tzinfo=UTC)], NOW)
    assert homes == [Range(day(1900, 1, 1), day(1901, 1, 1)), Range(day(2026, 1, 1), day(2026, 11, 30)),
                     Range(day(2026, 12, 1), day(2026, 12, 2))]
    # without the days made first, old rows still stop where the tier's days begin
    assert plan(tier, [], [day(2026, 11, 3), datetime(2026, 12, 5, 1, tzinfo=UTC)], NOW)[:2] == [
        Range(day(2026, 1, 1), day(2026, 11, 30)), Range(day(2026, 12, 5), day(2026, 12, 6))]
    # a row inside the tier's window gets its own day
    assert home_for(datetime(2026, 12, 5, 1, tzinfo=UTC), tier, existing, NOW) == Range(day(2026, 12, 5),
                                                                                        day(2026, 12, 6))


@given(st.lists(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2026, 12, 7, 13, 30, 5),
                             timezones=st.just(UTC)), max_size=30),
       st.sampled_from([1, 7, 30, 90, 400, 0]))
def test_planned_partitions_never_overlap_and_hold_every_row(rows: list[datetime], keep: int) -> None:
    tier = Tier("t", keep)
    first = plan(tier, [], rows[: len(rows) // 2], NOW)
    second = plan(tier, first, rows[len(rows) // 2:], NOW)
    ranges = sorted(first + second, key=lambda r: r.lo)
    for a, b in zip(ranges, ranges[1:]):
        assert a.hi <= b.lo
    assert all(r.lo < r.hi for r in ranges)
    assert all(any(r.holds(t) for r in ranges) for t in rows)
    assert covered_ahead(ranges, NOW)
    cutoff = tier.cutoff(NOW)
    if cutoff is not None:  # from the day (month) holding the cutoff on, a range is one period long
        assert all(r.hi == tier.period.next(r.lo) for r in ranges if r.lo >= tier.period.floor(cutoff))


def test_only_ranges_wholly_older_than_the_tier_expire() -> None:
    days = [Range(day(2026, 11, d), day(2026, 11, d + 1)) for d in range(25, 30)]
    cutoff = NOW - timedelta(days=10)  # 2026-11-27 13:30
    assert expired(Tier("raw", 10), days, NOW) == [r for r in days if r.hi <= cutoff]
    assert [r.lo.day for r in expired(Tier("raw", 10), days, NOW)] == [25, 26]
    assert expired(Tier("1d", 0), days, NOW) == []


def test_coverage_ahead_sees_a_gap() -> None:
    ranges = plan(Tier("raw", 7), [], [], NOW)
    assert not covered_ahead([r for r in ranges if r.lo != day(2026, 12, 10)], NOW)
    assert not covered_ahead(ranges[:-2], NOW)


def test_policy_tiers_by_timeframe() -> None:
    policy = RetentionPolicy(parse_bars_days("raw=3, 60s=10, 1D=0"), 5, 40)
    assert policy.for_timeframe("raw") == Tier("raw", 3)
    assert policy.for_timeframe("1m") == Tier("1m", 10)
    assert policy.for_timeframe("1d").keep_days == 0 and policy.for_timeframe("5m").keep_days == 0
    assert (policy.market.keep_days, policy.rejects.keep_days) == (5, 40)
    for bad in ("raw", "raw=x", "7m=-1", "2q=3"):
        with pytest.raises(ValueError):
            parse_bars_days(bad)


def test_the_history_tiers_come_from_the_settings_and_zero_keeps_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.config import Settings

    assert (RetentionPolicy().history, RetentionPolicy().webhooks) == (Tier("history", 30), Tier("webhooks", 7))
    monkeypatch.setenv("TICKFLOW_RETENTION_HISTORY_DAYS", "0")
    monkeypatch.setenv("TICKFLOW_RETENTION_WEBHOOK_DAYS", "2")
    policy = Settings().retention_policy()
    assert policy.history.cutoff(NOW) is None
    assert policy.webhooks.cutoff(NOW) == NOW - timedelta(days=2)
    monkeypatch.setenv("TICKFLOW_RETENTION_WEBHOOK_DAYS", "-1")
    with pytest.raises(ValueError, match="retention_webhook_days"):
        Settings()
