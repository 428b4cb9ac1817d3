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
    for bad in ("soon", "2024-13-01", "nan", ""):
        with pytest.raises((ValueError, OverflowError)):
            parse_time(bad)
