"""The Alpaca feed's pure rules (services/feed/bars.py): bar -> record, windows, gaps, and its command line."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alpaca.data.models import Bar

from services.config import Settings
from services.core.records import StockPrice, ValidationContext, validate_record
from services.core.symbols import SymbolPolicy
from services.feed.__main__ import build_parser
from services.feed.alpaca import timeframe_of
from services.feed.bars import Cursor, Window, closed_until, is_crypto, record_of, split_timeframe, step_of

T0 = datetime(2024, 3, 1, 14, 30, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def test_an_alpaca_bar_becomes_the_stock_price_record_ingest_accepts() -> None:
    bar = Bar("BTC/USD", {"t": "2024-03-01T14:30:00Z", "o": 0.5, "h": 0.75, "l": 0.25, "c": 0.625, "v": 0.125,
                          "n": 3, "vw": 0.6})
    record = record_of(bar)
    assert record == {"stock_symbol": "BTC/USD", "opening_price": 0.5, "closing_price": 0.625, "high": 0.75,
                      "low": 0.25, "volume": 0.125, "timestamp": T0.timestamp()}
    verdict = validate_record(record, ValidationContext(now=T0.timestamp(), symbols=SymbolPolicy()))
    assert isinstance(verdict, StockPrice) and (verdict.key, verdict.volume) == ("BTC/USD", 0.125)


def test_crypto_is_a_pair_and_timeframes_have_steps() -> None:
    assert [is_crypto(s) for s in ("BTC/USD", "AAPL", "BRK.B")] == [True, False, False]
    assert [step_of(tf) for tf in ("1Min", "5Min", "1Hour", "1Day")] == [
        MINUTE, 5 * MINUTE, timedelta(hours=1), timedelta(days=1)]
    assert split_timeframe("15Min") == (15, "Min") and timeframe_of("15Min").value == "15Min"
    for bad in ("0Min", "Min", "1Week", "1min", "5 Min"):
        with pytest.raises(ValueError, match="not an Alpaca timeframe"):
            step_of(bad)


def test_only_closed_bars_are_fetched() -> None:
    assert closed_until(T0 + 59 * SECOND, MINUTE) == T0 - SECOND  # the 14:30 bar still forms
    assert closed_until(T0 + MINUTE, MINUTE) == T0 + MINUTE - SECOND  # ... and has closed at 14:31
    assert closed_until(T0, timedelta(days=1)) == datetime(2024, 2, 29, 23, 59, 59, tzinfo=timezone.utc)


def test_a_window_starts_after_the_newest_stored_bar_or_at_the_start_whichever_is_later() -> None:
    cursor = Cursor({"AAPL": T0 + 10 * MINUTE})
    end = T0 + 60 * MINUTE
    assert cursor.window("AAPL", T0, end) == Window("AAPL", T0 + 10 * MINUTE + SECOND, end)  # restart: resume
    assert cursor.window("AAPL", T0 + 30 * MINUTE, end) == Window("AAPL", T0 + 30 * MINUTE, end)  # later start
    assert cursor.window("AAPL", None, end) == Window("AAPL", T0 + 10 * MINUTE + SECOND, end)
    assert cursor.window("MSFT", T0, end) == Window("MSFT", T0, end)  # nothing stored: from the start
    assert cursor.window("MSFT", None, end) is None  # nothing stored, no start: nothing to ask for
    assert cursor.window("AAPL", T0, T0 + 10 * MINUTE) is None  # everything asked for is stored


def test_a_live_bar_after_a_gap_asks_for_the_bars_in_between_and_old_bars_are_not_fresh() -> None:
    cursor = Cursor({"AAPL": T0})
    assert cursor.gap("AAPL", T0 + MINUTE, MINUTE) is None  # the next minute: no gap
    assert cursor.gap("AAPL", T0 + 4 * MINUTE, MINUTE) == Window("AAPL", T0 + SECOND, T0 + 4 * MINUTE - SECOND)
    assert cursor.gap("MSFT", T0, MINUTE) is None  # nothing known of MSFT: nothing to fill
    assert [cursor.fresh("AAPL", t) for t in (T0 - MINUTE, T0, T0 + MINUTE)] == [False, False, True]
    cursor.advance("AAPL", T0 + 2 * MINUTE)
    cursor.advance("AAPL", T0 + MINUTE)  # never moves back
    assert cursor.newest == {"AAPL": T0 + 2 * MINUTE}


def test_the_command_line_is_made_from_the_settings() -> None:
    settings = Settings(alpaca_symbols="aapl,btc/usd", alpaca_ops_port=0)
    parser = build_parser(settings)
    args = parser.parse_args(["alpaca", "backfill", "--start", "2024-03-01", "--timeframe", "1Hour"])
    assert (args.source, args.mode, args.start, args.alpaca_timeframe) == (
        "alpaca", "backfill", datetime(2024, 3, 1, tzinfo=timezone.utc), "1Hour")
    live = parser.parse_args(["alpaca", "live", "--start", "2024-03-01T09:30:00-05:00", "--history", "600"])
    assert (live.start, live.alpaca_history_s) == (T0, "600")
    assert settings.alpaca_symbols == ("AAPL", "BTC/USD")
    with pytest.raises(SystemExit):
        parser.parse_args(["alpaca", "live", "--timeframe", "1Hour"])  # live bars are Alpaca's minute bars
    help_text = parser._subparsers._group_actions[0].choices["alpaca"].format_help()  # type: ignore[union-attr]
    assert "APCA_API_KEY_ID" in help_text and "backfill" in help_text and "live" in help_text
