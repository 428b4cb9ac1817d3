"""The replay's pure reading rules (services/replay/files.py, no I/O): date layouts, zones, empty cells,
the adjustment, order checks, symbols from file names, and what the summary says."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from services.replay.files import (
    InputError,
    LayoutError,
    ReadOptions,
    Source,
    adjust_prices,
    blank,
    file_symbol,
    order_error,
    order_problems,
    read_candles,
)
from services.replay.runner import Summary
from services.replay.times import BadValue, date_layout, utc_seconds

DAY = 86400.0
JAN_4_1999 = 915_408_000.0  # 1999-01-04T00:00:00Z


def seconds(texts: list[str], **options: str) -> list[float]:
    return utc_seconds(pd.Series(texts), **options)[0].tolist()


@pytest.mark.parametrize("texts, layout", [
    (["1999-01-04", "1999-01-13"], "ISO 8601"),
    (["1/4/1999", "1/13/1999"], "M/D/YYYY"),  # a day above 12 second: month first
    (["4/1/1999", "13/1/1999"], "D/M/YYYY"),
    (["4.1.1999", "13.1.1999"], "D.M.YYYY"),
    (["19990104", "19990113"], "YYYYMMDD"),
    (["915408000", "916185600"], "epoch numbers"),
])
def test_date_layouts_are_told_from_the_data(texts: list[str], layout: str) -> None:
    assert date_layout(pd.Series(texts)).name == layout
    assert seconds(texts) == [JAN_4_1999, JAN_4_1999 + 9 * DAY]


def test_times_of_day_in_every_layout() -> None:
    assert seconds(["1/4/1999 9:30", "1/13/1999 16:00:00"]) == [JAN_4_1999 + 9.5 * 3600,
                                                                JAN_4_1999 + 9 * DAY + 16 * 3600]
    assert seconds(["13.1.1999 09:30"]) == [JAN_4_1999 + 9 * DAY + 9.5 * 3600]
    assert seconds(["1999-01-04T09:30:00.25Z", "1999-01-04 10:30:00+01:00"]) == [JAN_4_1999 + 34200.25,
                                                                                 JAN_4_1999 + 34200]
    assert seconds(["04-Jan-1999"], date_format="%d-%b-%Y") == [JAN_4_1999]
    assert seconds(["1/4/1999"], date_format="%d/%m/%Y") == [JAN_4_1999 + 87 * DAY]  # 1 April


def test_ambiguous_contradictory_and_unknown_dates_are_refused_with_what_to_do() -> None:
    with pytest.raises(BadValue, match=r"ambiguous: .* --date-format '%m/%d/%Y' or --date-format '%d/%m/%Y'") as raised:
        date_layout(pd.Series(["1/4/1999", "2/3/1999", "12/12/1999"]))
    assert raised.value.position == 0 and raised.value.text == "1/4/1999"
    with pytest.raises(BadValue, match=r"written M/D/YYYY while '13/1/1999' above is D/M/YYYY") as raised:
        date_layout(pd.Series(["13/1/1999", "1/1/1999", "1/13/1999"]))
    assert raised.value.position == 2
    with pytest.raises(BadValue, match=r"--date-format '%d-%b-%Y'") as raised:
        date_layout(pd.Series(["04-Jan-1999"]))
    with pytest.raises(BadValue, match="cannot read it as M/D/YYYY") as raised:
        utc_seconds(pd.Series(["1/4/1999", "1/13/1999", "1999-01-14"]))
    assert (raised.value.position, raised.value.text) == (2, "1999-01-14")
    with pytest.raises(BadValue, match="cannot read it as M/D/YYYY"):
        utc_seconds(pd.Series(["1/13/1999", "2/30/1999"]))  # no 30 February


def test_exchange_time_is_converted_to_utc_across_daylight_saving_changes() -> None:
    ny = {"tz": "America/New_York"}
    # 9:30 in New York is 14:30 UTC in winter and 13:30 UTC in summer (the change: 12 March 2017)
    assert seconds(["2017-03-10 09:30", "2017-03-13 09:30"], **ny) == [
        pd.Timestamp("2017-03-10 14:30Z").timestamp(), pd.Timestamp("2017-03-13 13:30Z").timestamp()]
    # the hour that repeats on 5 November 2017, in file order: first summer time, then winter time
    folded = seconds(["2017-11-05 00:30", "2017-11-05 01:30", "2017-11-05 01:30", "2017-11-05 02:30"], **ny)
    assert np.diff(folded).tolist() == [3600.0, 3600.0, 3600.0]
    with pytest.raises(BadValue, match="not one time in America/New_York") as raised:
        utc_seconds(pd.Series(["2017-03-12 01:30", "2017-03-12 02:30"]), **ny)  # 2:30 never happened
    assert raised.value.text == "2017-03-12 02:30"


def test_daily_bars_keep_their_date_and_zoned_times_are_read_as_written() -> None:
    assert seconds(["1/4/1999", "1/13/1999"], tz="Asia/Tokyo") == [JAN_4_1999, JAN_4_1999 + 9 * DAY]
    assert "daily bars" in utc_seconds(pd.Series(["1999-01-04 00:00:00"]), tz="Asia/Tokyo")[2]
    assert seconds(["1999-01-04T00:00:00-05:00"], tz="Asia/Tokyo") == [JAN_4_1999 + 5 * 3600]
    # Parquet's own timestamps: a zone is honoured, none is UTC (or --tz)
    aware = pd.Series(pd.to_datetime(["1999-01-04 09:30"]).tz_localize("America/New_York"))
    assert utc_seconds(aware, tz="Asia/Tokyo")[0].tolist() == [JAN_4_1999 + 14.5 * 3600]
    naive = pd.Series(pd.to_datetime(["1999-01-04 09:30"]))
    assert utc_seconds(naive, tz="America/New_York")[0].tolist() == [JAN_4_1999 + 14.5 * 3600]


def test_empty_cells_as_exports_write_them() -> None:
    assert blank(pd.Series(["1.5", "null", "", " NaN ", "N/A", "-", "0"])).tolist() == [
        False, True, True, True, True, True, False]
    assert blank(pd.Series([1.5, np.nan, 0.0])).tolist() == [False, True, False]


def test_the_adjustment_scales_the_prices_of_a_bar_by_one_factor() -> None:
    bars = pd.DataFrame({"open": [100.0, 52.0], "high": [104.0, 53.0], "low": [98.0, 51.0], "close": [102.0, 52.5],
                         "volume": [10.0, 20.0]})
    adjusted = adjust_prices(bars, np.array([51.0, 52.5]))  # a 2:1 split between the two days
    assert adjusted[["open", "high", "low", "close", "volume"]].to_numpy().tolist() == [
        [50.0, 52.0, 49.0, 51.0, 10.0], [52.0, 53.0, 51.0, 52.5, 20.0]]


def test_rows_out_of_order_and_repeated_are_found_per_symbol() -> None:
    symbols = np.array(["A", "A", "B", "A", "A", "B"])
    ts = np.array([1.0, 3.0, 1.0, 2.0, 3.0, 1.0])
    repeated, late = order_problems(symbols, ts)
    assert repeated.tolist() == [False, False, False, False, True, True]
    assert late.tolist() == [False, False, False, True, False, False]
    message = order_error(np.arange(2, 8), ts, repeated, late, 2)
    assert "1 row(s) earlier than a row above them, first row 5" in message and "first row 6" in message
    newest_first = np.array([3.0, 2.0, 1.0])
    r, lt = order_problems(np.array(["A"] * 3), newest_first)
    assert "(the file looks newest first)" in order_error(np.arange(2, 5), newest_first, r, lt, 1)
    newest_first = np.array([2.0, 3.0, 2.0, 1.0, 0.0])  # with a repeated time on top
    r, lt = order_problems(np.array(["A"] * 5), newest_first)
    assert "(the file looks newest first)" in order_error(np.arange(2, 7), newest_first, r, lt, 1)
    assert "newest" not in message


@pytest.mark.parametrize("name, symbol", [("^GSPC.csv", "GSPC"), ("BRK-B.csv", "BRK-B"), ("BRK.B.csv", "BRK.B"),
                                          ("EURUSD=X.csv", "EURUSD"), ("GC=F.parquet", "GC"), ("goog.csv.gz", "GOOG"),
                                          ("BTC-USD.csv", "BTC-USD"), ("GOOG (1).csv", None),
                                          ("a-very-long-file-name.csv", None)])
def test_symbols_from_file_names(name: str, symbol: str | None) -> None:
    assert file_symbol(name)[0] == symbol


def test_a_messy_file_read_whole_and_summarised(tmp_path: Path) -> None:
    path = tmp_path / "^GSPC.csv"
    path.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n"
                    "1/5/1999,2.0,4.0,1.0,3.0,1.5,10\n"
                    "1/4/1999,2.0,4.0,1.0,3.0,1.5,0\n"
                    "1/6/1999,null,null,null,null,null,null\n"
                    "1/13/1999,2.0,4.0,1.0,3.0,3.0,10\n"
                    "1/13/1999,2.0,4.0,1.0,3.0,3.0,10\n")
    with pytest.raises(InputError, match="1 row.s. earlier than a row above them, first row 3 .1999-01-04"):
        read_candles(Source(path), {})
    read = read_candles(Source(path), {}, ReadOptions(tz="America/New_York", adjust=True, sort=True))
    assert read.frame[["symbol", "ts", "open", "high", "low", "close", "volume", "row"]].to_numpy().tolist() == [
        ["GSPC", JAN_4_1999 + DAY, 1.0, 2.0, 0.5, 1.5, 10.0, 2], ["GSPC", JAN_4_1999, 1.0, 2.0, 0.5, 1.5, 0.0, 3],
        ["GSPC", JAN_4_1999 + 9 * DAY, 2.0, 4.0, 1.0, 3.0, 10.0, 5]]
    assert (read.empty_rows, read.repeated_rows, read.reordered) == ([4], [6], 1)
    summary = Summary(files=[read.describe()], skipped=2, rows=3, sent=3, accepted=3, seconds=1.0)
    assert summary.text().splitlines()[:6] == [
        "replay summary",
        "  file         ^GSPC.csv: 5 rows, ohlcv layout, symbol GSPC",
        "               times M/D/YYYY, daily bars (all at midnight): their dates, as UTC (--tz America/New_York "
        "applies to intraday times only); prices adjusted by the adjusted close",
        "               skipped 1 empty row(s): row 4",
        "               1 row(s) out of time order, sent in time order (--sort)",
        "               skipped 1 repeated time(s), the first row of each sent: row 6"]
    assert "3 of 3 candles in 1.0 s (3 records/s) (2 row(s) skipped, above)" in summary.text()
    plain = tmp_path / "plain.csv"
    plain.write_text("Date,Open,High,Low,Close,Volume\n1999-01-04,2,4,1,3,10\n")
    with pytest.raises(LayoutError, match="--adjust needs the adjusted close"):
        read_candles(Source(plain), {}, ReadOptions(adjust=True))
