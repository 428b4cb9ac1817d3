"""Reading OHLCV files (layouts, times, symbols) and pacing a replay: pure, no services."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import ROOT

from services.replay.files import InputError, LayoutError, ReadOptions, Source, parse_columns, read_candles
from services.replay.runner import Pace, Summary

COLUMNS = ["symbol", "ts", "open", "high", "low", "close", "volume"]
T0 = 1_704_153_600.0  # 2024-01-02T00:00:00Z


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_yahoo_layout_with_adj_close_is_read_as_quoted(tmp_path: Path) -> None:
    path = write(tmp_path / "aapl.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n"
                                        "2024-01-02,187.15,188.44,183.89,185.64,184.73,82488700\n"
                                        "2024-01-03,184.22,185.88,183.43,184.25,183.35,58414500\n")
    read = read_candles(Source(path, fallback="AAPL"), {})
    frame, layout = read.frame, read.layout
    assert layout == "ohlcv"
    assert frame[COLUMNS].values.tolist() == [["AAPL", T0, 187.15, 188.44, 183.89, 185.64, 82488700],
                                              ["AAPL", T0 + 86400, 184.22, 185.88, 183.43, 184.25, 58414500]]


def test_alpaca_bars_with_their_symbol_column_and_zoned_times(tmp_path: Path) -> None:
    path = write(tmp_path / "bars.csv", "S,t,o,h,l,c,v,n,vw\n"
                                        "BTC/USD,2024-01-02T00:00:00Z,42000.5,42100,41900,42050,1.25,10,42010.1\n"
                                        "ETH/USD,2024-01-02T01:00:00+01:00,2350,2360,2340,2355,0.5,3,2351\n")
    read = read_candles(Source(path, fallback="BARS"), {})
    frame, layout = read.frame, read.layout
    assert layout == "alpaca"
    assert frame[["symbol", "ts", "volume"]].values.tolist() == [["BTC/USD", T0, 1.25], ["ETH/USD", T0, 0.5]]
    forced = read_candles(Source(path, symbol="X"), {}, ReadOptions(sort=True))  # --symbol wins over the column
    assert set(forced.frame["symbol"]) == {"X"} and forced.repeated_rows == [3]  # one symbol now: a repeated time


def test_alpaca_py_frames_saved_as_parquet(tmp_path: Path) -> None:
    index = pd.MultiIndex.from_tuples([("SPY", pd.Timestamp(T0, unit="s", tz="UTC")),
                                       ("SPY", pd.Timestamp(T0 + 60, unit="s", tz="UTC"))],
                                      names=["symbol", "timestamp"])
    pd.DataFrame({"open": [470.0, 471.0], "high": [471.5, 472.0], "low": [469.0, 470.5], "close": [471.0, 471.8],
                  "volume": [1000.0, 1200.0], "trade_count": [5.0, 7.0], "vwap": [470.5, 471.2]},
                 index=index).to_parquet(tmp_path / "spy.parquet")
    read = read_candles(Source(tmp_path / "spy.parquet", fallback="SPY"), {})
    frame, layout = read.frame, read.layout
    assert layout == "ohlcv"
    assert frame[COLUMNS].values.tolist() == [["SPY", T0, 470.0, 471.5, 469.0, 471.0, 1000.0],
                                              ["SPY", T0 + 60, 471.0, 472.0, 470.5, 471.8, 1200.0]]


@pytest.mark.parametrize("stamp", [T0, T0 * 1e3, T0 * 1e6, T0 * 1e9])
def test_epoch_times_in_any_unit(tmp_path: Path, stamp: float) -> None:
    path = write(tmp_path / "x.csv", f"when,O,H,L,C,V\n{stamp:.0f},1,2,0.5,1.5,10\n")
    read = read_candles(Source(path, fallback="X"), parse_columns("ts=when,open=O,high=H,low=L,close=C,volume=V"))
    assert read.layout == "generic" and read.frame["ts"].tolist() == [T0] and read.dates == "epoch numbers"


def test_values_that_cannot_be_read_stop_the_file_naming_row_column_and_text(tmp_path: Path) -> None:
    head = "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n"
    for body, message in [("not a date,1,2,0.5,1.5,10\n",
                           "row 3, column 'Date': 'not a date': cannot read it as ISO 8601"),
                          ("2024-01-03,1,2,0.5,1.5,null\n", "row 3, column 'Volume': 'null': empty in a row"),
                          ("2024-01-03,1,2,0.5,1.5,1.2.3\n", "row 3, column 'Volume': '1.2.3': not a number"),
                          ("\n2024-01-03,1,2,0.5,1.5,\n", "row 4, column 'Volume': '': empty"),
                          (",1,2,0.5,1.5,10\n", "row 3, column 'Date': '': no time"),
                          ("2024-02-30,1,2,0.5,1.5,10\n", "row 3, column 'Date': '2024-02-30': cannot read it as "
                                                          "ISO 8601")]:
        with pytest.raises(InputError) as raised:
            read_candles(Source(write(tmp_path / "bad.csv", head + body), fallback="BAD"), {})
        assert str(raised.value).startswith(message), str(raised.value)


def test_layout_errors_name_what_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n")
    with pytest.raises(LayoutError, match="volume"):
        read_candles(Source(path, fallback="X"), {})
    with pytest.raises(LayoutError, match="does not have: Vol"):
        read_candles(Source(path, fallback="X"), {"volume": "Vol"})
    with pytest.raises(LayoutError, match=r"'MY BARS' is not one .* --symbol MYBARS"):
        read_candles(Source(write(tmp_path / "my bars.csv", "t,o,h,l,c,v\n1,1,1,1,1,1\n")), {})
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        parse_columns("price=Close")


def test_pacing_as_fast_as_possible_at_a_speed_or_retimed() -> None:
    ts = np.array([T0, T0 + 86400, T0 + 3 * 86400])
    assert Pace().plan(ts, 5.0)[1] is None
    sent, due = Pace(86400).plan(ts, 5.0)
    assert sent.tolist() == ts.tolist() and due.tolist() == [0, 1, 3]
    sent, due = Pace(86400, retime=True).plan(ts, 5.0)
    assert sent.tolist() == [5.0, 6.0, 8.0] and due.tolist() == [0, 1, 3]
    sent, due = Pace(retime=True).plan(np.array([10.0, 12.5, np.nan]), 5.0)  # real time by default
    assert sent[:2].tolist() == [5.0, 7.5] and np.isnan(sent[2]) and due.tolist() == [0, 2.5, 0]


def test_the_summary_names_the_reasons() -> None:
    summary = Summary(files=["a.csv: 3 rows"], rows=3, sent=3, accepted=1, rejected=2, seconds=2.0)
    summary.reasons.update({"stock_symbol: unknown symbol 'ZZ'": 2})
    assert not summary.ok
    assert "    2 x stock_symbol: unknown symbol 'ZZ'" in summary.text()
    assert summary.as_dict()["records_per_s"] == 2 and summary.as_dict()["not_sent"] == 0


def test_cli_help_and_usage_errors() -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "services.replay", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)

    shown = cli("--help")
    assert shown.returncode == 0 and "--speed N|max" in shown.stdout and "TICKFLOW_REPLAY_BATCH" in shown.stdout
    for option in ("--date-format FORMAT", "--tz ZONE", "--adjust", "--sort"):  # each with an example
        described = shown.stdout.split("options:", 1)[1].split(option, 1)[1].split("\n  -", 1)[0]
        assert "e.g." in described, option
    assert cli("x.csv", "--tz", "Mars/Olympus").returncode == 2
    assert cli("x.csv", "--speed", "0").returncode == 2
    assert cli("x.csv", "--symbol", "btc usd").returncode == 2
    missing = cli("/nonexistent/GOOG.csv")
    assert missing.returncode == 2 and "GOOG.csv" in missing.stderr
