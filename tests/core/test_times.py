"""parse_time: the one reading of a time from outside (ISO 8601 or epoch seconds, as UTC)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.core.times import parse_time


def test_time_parameters() -> None:
    utc = timezone.utc
    assert parse_time("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=utc)
    assert parse_time("2024-05-01T14:00:00+02:00") == datetime(2024, 5, 1, 12, tzinfo=utc)
    assert parse_time("2024-05-01 12:00") == datetime(2024, 5, 1, 12, tzinfo=utc)  # no offset: UTC
    assert parse_time("1714564800") == parse_time(1714564800) == datetime(2024, 5, 1, 12, tzinfo=utc)
    assert parse_time("-631065599.5") == datetime(1950, 1, 2, 0, 0, 0, 500000, tzinfo=utc)
    # ASCII digits only: float() would read '٣' (Arabic-Indic) and '３' (fullwidth) as 3.
    for bad in ("soon", "2024-13-01", "nan", "inf", "", "٣", "３", "1_000", "١٧١٤٥٦٤٨٠٠", "2024-05-0١",
                "2024-05-01T12:00:00\x00", "2024-05-01\x00junk"):
        with pytest.raises((ValueError, OverflowError)):
            parse_time(bad)


def test_a_time_from_airflow_stays_aware_in_arithmetic() -> None:
    """Airflow's data_interval_end is a pendulum DateTime; with a stdlib tzinfo it drops the zone when a
    timedelta is subtracted. What parse_time / as_utc return is a plain datetime that keeps it."""
    from datetime import timedelta

    import pendulum  # Airflow's; the lock installs it

    from services.core.times import as_utc
    from services.orchestration.run_params import Window
    from services.orchestration.run_params import parse_time as parse_param

    from_airflow = pendulum.datetime(2026, 12, 1, 1, tz="UTC").astimezone(timezone.utc)
    assert (from_airflow - timedelta(days=4)).tzinfo is None  # the trap
    for made in (parse_time(from_airflow), as_utc(from_airflow), parse_param("end", from_airflow),
                 Window(datetime(2026, 12, 1, tzinfo=timezone.utc), from_airflow, "data interval").end):
        assert type(made) is datetime and made == datetime(2026, 12, 1, 1, tzinfo=timezone.utc)
        assert (made - timedelta(days=4)).tzinfo is timezone.utc
