"""Run param validation (services/orchestration/run_params.py): windows, symbols, timeframes, tolerances — and the
errors people see."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.orchestration.run_params import (
    RunParamError,
    Window,
    parse_time,
    resolve_window,
    validate_bool,
    validate_max_mismatches,
    validate_symbols,
    validate_timeframes,
    validate_tolerance,
)

UTC = timezone.utc
CONFIGURED = ("AAPL", "GOOGL", "AMZN", "MSFT", "TSLA")
TIMEFRAMES = ("1m", "5m", "1h", "1d")
DI_START = datetime(2024, 5, 1, tzinfo=UTC)
DI_END = datetime(2024, 5, 2, tzinfo=UTC)


@pytest.mark.parametrize("value, expected", [
    ("2024-05-01T12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ("2024-05-01T14:30:00+02:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ("2024-05-01 12:30:00.250", datetime(2024, 5, 1, 12, 30, 0, 250_000, tzinfo=UTC)),  # naive = UTC
    ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    (datetime(2024, 5, 1, 12, 30), datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    (None, None),
    ("  ", None),
])
def test_times_are_parsed_to_utc(value: object, expected: datetime | None) -> None:
    parsed = parse_time("start", value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value, message", [
    ("yesterday", r"start: 'yesterday' is not an ISO 8601 date-time; use e.g. '2024-05-01T00:00:00Z'"),
    ("2024-13-01", r"start: '2024-13-01' is not an ISO 8601 date-time"),
    (1714521600, r"start: expected an ISO 8601 date-time string such as '2024-05-01T00:00:00Z', got int 1714521600"),
])
def test_bad_times_say_which_param_and_what_is_expected(value: object, message: str) -> None:
    with pytest.raises(RunParamError, match=message):
        parse_time("start", value)


def test_params_win_over_the_data_interval() -> None:
    window = resolve_window("2024-05-01T06:00:00Z", "2024-05-01T07:00:00Z", data_interval_start=DI_START,
                            data_interval_end=DI_END)
    assert (window.start, window.end, window.source) == (
        datetime(2024, 5, 1, 6, tzinfo=UTC), datetime(2024, 5, 1, 7, tzinfo=UTC), "params")


def test_the_data_interval_is_used_without_params() -> None:
    window = resolve_window(None, None, data_interval_start=DI_START, data_interval_end=DI_END)
    assert (window.start, window.end, window.source) == (DI_START, DI_END, "data interval")


def test_start_and_end_fall_back_independently() -> None:
    window = resolve_window("2024-05-01T20:00:00Z", None, data_interval_start=DI_START, data_interval_end=DI_END)
    assert (window.start, window.end, window.source) == (
        datetime(2024, 5, 1, 20, tzinfo=UTC), DI_END, "params + data interval")


def test_without_interval_the_default_span_before_run_after_is_used() -> None:
    run_after = datetime(2024, 5, 3, 10, 15, tzinfo=UTC)
    window = resolve_window(None, "", run_after=run_after, default_span=timedelta(hours=1))
    assert (window.start, window.end, window.source) == (run_after - timedelta(hours=1), run_after, "default")


def test_an_empty_or_inverted_window_is_refused_with_both_times() -> None:
    with pytest.raises(RunParamError, match=r"start \(2024-05-02T00:00:00\+00:00\) must be before end "
                                         r"\(2024-05-01T00:00:00\+00:00\); the window is \[start, end\)"):
        resolve_window("2024-05-02", "2024-05-01")
    with pytest.raises(RunParamError, match="must be before end .* taken from params \\+ data interval"):
        resolve_window("2024-05-02T00:00:00Z", None, data_interval_start=DI_START, data_interval_end=DI_END)


def test_windows_travel_as_json() -> None:
    window = Window(DI_START, DI_END, "params")
    assert Window.from_dict(window.as_dict()) == window
    assert str(window) == "[2024-05-01T00:00:00+00:00, 2024-05-02T00:00:00+00:00)"


@pytest.mark.parametrize("value, expected", [
    (None, list(CONFIGURED)), ([], list(CONFIGURED)), ("", list(CONFIGURED)),
    (["aapl", "MSFT", "AAPL"], ["AAPL", "MSFT"]), ("tsla, googl", ["TSLA", "GOOGL"]),
])
def test_symbols_are_normalised_and_empty_means_all(value: object, expected: list[str]) -> None:
    assert validate_symbols(value, CONFIGURED) == expected


def test_unknown_symbols_are_named_with_the_configured_ones() -> None:
    with pytest.raises(RunParamError, match=r"symbols: unknown symbol\(s\) FOO, BAR; configured symbols are "
                                         r"AAPL, GOOGL, AMZN, MSFT, TSLA \(TICKFLOW_SYMBOLS\)"):
        validate_symbols(["AAPL", "foo", "bar"], CONFIGURED)
    with pytest.raises(RunParamError, match="every symbol must be a string, got 3"):
        validate_symbols(["AAPL", 3], CONFIGURED)


def test_tolerance_max_mismatches_and_flags() -> None:
    assert validate_tolerance(1e-9) == 1e-9
    assert validate_tolerance("1e-6") == 1e-6
    for bad in (0, -1e-9, 1, "abc", float("nan"), True, None):
        with pytest.raises(RunParamError, match="tolerance: expected a relative tolerance between 0 and 1"):
            validate_tolerance(bad)
    assert validate_max_mismatches(0) == 0 and validate_max_mismatches("12") == 12
    for bad in (-1, 1.5, "x", True, None):
        with pytest.raises(RunParamError, match="max_mismatches: expected a whole number >= 0"):
            validate_max_mismatches(bad)
    assert validate_bool("repair", True) is True and validate_bool("repair", "false") is False
    with pytest.raises(RunParamError, match="repair: expected true or false, got 'maybe'"):
        validate_bool("repair", "maybe")


@pytest.mark.parametrize("value, expected", [
    (None, ["raw", "1m", "5m", "1h", "1d"]),
    ([], ["raw", "1m", "5m", "1h", "1d"]),
    ("", ["raw", "1m", "5m", "1h", "1d"]),
    ("1h, RAW,60s", ["raw", "1m", "1h"]),  # comma-separated, any unit, kept in storage order
    (["5m", "300s", " "], ["5m"]),
])
def test_timeframes_are_canonical_and_empty_means_raw_and_all_configured(value: object, expected: list[str]) -> None:
    assert validate_timeframes(value, TIMEFRAMES) == expected


def test_unknown_timeframes_are_named_with_the_stored_ones() -> None:
    with pytest.raises(RunParamError, match=r"^timeframes: unknown timeframe\(s\) 15m, 2h; the stored ones are "
                                         r"raw, 1m, 5m, 1h, 1d \(raw = base bars"):
        validate_timeframes(["2h", "1m", "15m"], TIMEFRAMES)
    with pytest.raises(RunParamError, match=r"^timeframes: 'hourly' is not a timeframe; use raw"):
        validate_timeframes("hourly", TIMEFRAMES)
    with pytest.raises(RunParamError, match=r"^timeframes: expected a list"):
        validate_timeframes(5, TIMEFRAMES)
    assert validate_timeframes(None, ()) == ["raw"]  # no timeframes configured: base bars only
