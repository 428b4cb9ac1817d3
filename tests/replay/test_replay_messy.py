"""Real files as people have them (issue #24), built on the fly from the shipped GOOG and EURUSD
histories and replayed through the real ingest -> Kafka -> processor: US and day-first dates, Yahoo's
`null` rows, an unadjusted split with its Adj Close, shuffled and repeated rows, zone-aware times and
exchange-local ones with --tz. Each stores exactly the bars the clean file stores (replayed under a
symbol of its own); the refusals (ambiguous dates, a date that cannot be read) send nothing."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from replaying import count, replay_cli, run_replay, stored
from running_services import RunningPipeline
from sqlalchemy import Engine
from support import wait_until

from bench.datasets import shipped

BAR = ["ts", "open", "high", "low", "close", "volume"]
GOOG_ROWS = 300  # 2004-08-19 .. 2005-10-25, daily
EUR_SPAN = ("2017-10-25", "2017-11-10")  # hourly, across Europe's (29 Oct) and New York's (5 Nov) change of clocks
ZERO_VOLUME_ROW = 10  # a day without trades: accepted like any other


def goog() -> pd.DataFrame:
    """The clean daily bars: Date (midnight, naive) as the index, Open..Volume, one day without volume."""
    frame = pd.read_csv(shipped("GOOG"), index_col=0).iloc[:GOOG_ROWS]
    frame.index = pd.to_datetime(frame.index)
    frame.iloc[ZERO_VOLUME_ROW, frame.columns.get_loc("Volume")] = 0
    return frame


def eurusd() -> pd.DataFrame:
    """The clean hourly bars (their times are UTC), index UTC-aware."""
    frame = pd.read_csv(shipped("EURUSD"), index_col=0)
    frame.index = pd.to_datetime(frame.index).tz_localize("UTC")
    return frame[(frame.index >= EUR_SPAN[0]) & (frame.index < EUR_SPAN[1])]


def yahoo(frame: pd.DataFrame, dates: list[str]) -> pd.DataFrame:
    """Yahoo's layout: Date,Open,High,Low,Close,Adj Close,Volume."""
    out = frame.copy()
    out.insert(4, "Adj Close", out["Close"])
    out.index = pd.Index(dates, name="Date")
    return out


def us_dates(path: Path) -> list[str]:
    frame = goog()
    yahoo(frame, [f"{d.month}/{d.day}/{d.year}" for d in frame.index]).to_csv(path)
    return ["--tz", "America/New_York"]  # a daily file keeps its dates whatever the zone


def day_first_dots_with_null_rows(path: Path) -> list[str]:
    frame = yahoo(goog(), [f"{d.day}.{d.month}.{d.year}" for d in goog().index]).astype(object)
    nulls = pd.DataFrame("null", index=pd.Index(["21.8.2004", "4.7.2005"], name="Date"), columns=frame.columns)
    # Yahoo's rows of nulls: after the 2nd bar (a Saturday) and on 4 July 2005 (a holiday), in date order
    pd.concat([frame.iloc[:2], nulls.iloc[:1], frame.iloc[2:220], nulls.iloc[1:], frame.iloc[220:]]).to_csv(path)
    return []


def day_first_slashes_shuffled_and_repeated(path: Path) -> list[str]:
    frame = goog()
    frame.index = pd.Index([d.strftime("%d/%m/%Y") for d in frame.index], name="Date")
    repeated = frame.iloc[[5, 77]]
    pd.concat([frame, repeated]).sample(frac=1.0, random_state=24).to_csv(path)
    return ["--sort"]


def unadjusted_split(path: Path) -> list[str]:
    frame = yahoo(goog(), [d.strftime("%Y-%m-%d") for d in goog().index])
    before = frame.index[:150]  # quoted before a 2:1 split: twice the price; Adj Close is the price after it
    frame.loc[before, ["Open", "High", "Low", "Close"]] *= 2
    frame.to_csv(path)
    return ["--adjust"]


def zone_aware(path: Path) -> list[str]:
    frame = eurusd()
    frame.index = pd.Index(frame.index.tz_convert("Europe/Berlin").strftime("%Y-%m-%dT%H:%M:%S%z"), name="Datetime")
    frame.to_csv(path)
    return ["--tz", "Asia/Tokyo"]  # ignored: the times say their zone


def exchange_local(path: Path) -> list[str]:
    frame = eurusd()
    frame.index = pd.Index(frame.index.tz_convert("America/New_York").strftime("%Y-%m-%d %H:%M"), name="Date")
    frame.to_csv(path)
    return ["--tz", "America/New_York"]


# file name (the symbol: Yahoo's marks dropped), the clean history it must equal, the layout, what is skipped
CASES: dict[str, tuple[str, str, Callable[[Path], list[str]], dict[str, object]]] = {
    "us-dates": ("^GUS.csv", "GOOG", us_dates, {"times": "M/D/YYYY"}),
    "day-first-nulls": ("GDOT=X.csv", "GOOG", day_first_dots_with_null_rows,
                        {"times": "D.M.YYYY", "empty_rows": [4, 223]}),
    "shuffled": ("GSHUF.csv", "GOOG", day_first_slashes_shuffled_and_repeated, {"times": "D/M/YYYY"}),
    "adjusted": ("GADJ.csv", "GOOG", unadjusted_split, {"times": "ISO 8601", "adjusted": True}),
    "zone-aware": ("EBER.csv", "EURUSD", zone_aware, {"zone": "times with a zone as written"}),
    "exchange-local": ("ENY.csv", "EURUSD", exchange_local,
                       {"zone": "times without a zone read in America/New_York (--tz), converted to UTC"}),
}
CLEAN_SYMBOLS = {"GOOG": "GCLEAN", "EURUSD": "ECLEAN"}


def stored_bars(db: Engine, symbol: str, rows: int) -> pd.DataFrame:
    wait_until(lambda: count(db, "SELECT count(*) FROM bars WHERE symbol = :s AND timeframe = 'raw'", s=symbol) >= rows,
               timeout=120, what=f"{rows} {symbol} bars")
    assert count(db, "SELECT count(*) FROM late_bars WHERE symbol = :s", s=symbol) == 0
    bars = stored(db, symbol)
    assert len(bars) == rows
    return bars[BAR]


@pytest.fixture(scope="module")
def clean(pipeline: RunningPipeline, owner_db: Engine,
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """The clean files (the shipped layout) replayed, and the bars they stored."""
    folder = tmp_path_factory.mktemp("clean")
    frames = {"GOOG": goog(), "EURUSD": eurusd()}
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv")
        summary = run_replay(pipeline, str(folder / f"{name}.csv"), "--symbol", CLEAN_SYMBOLS[name])
        assert (summary["rows"], summary["accepted"], summary["skipped"]) == (len(frame), len(frame), 0)
    bars = {name: stored_bars(owner_db, CLEAN_SYMBOLS[name], len(frame)) for name, frame in frames.items()}
    assert bars["GOOG"]["volume"].iloc[ZERO_VOLUME_ROW] == 0
    assert (bars["EURUSD"]["ts"].to_numpy() == eurusd().index.to_numpy()).all()
    return bars


@pytest.mark.parametrize("case", list(CASES))
def test_a_messy_file_stores_the_same_bars_as_the_clean_one(
        case: str, clean: dict[str, pd.DataFrame], pipeline: RunningPipeline, owner_db: Engine,
        tmp_path: Path) -> None:
    name, history, build, expected = CASES[case]
    path = tmp_path / name
    options = build(path)
    symbol = name.removesuffix(".csv").lstrip("^").removesuffix("=X")
    summary = run_replay(pipeline, str(path), *options)
    want = clean[history]
    (read,) = summary["files"]
    assert read["symbols"] == [symbol]
    assert {key: read[key] for key in expected} == expected
    assert (summary["rows"], summary["sent"], summary["accepted"], summary["rejected"]) == (
        len(want), len(want), len(want), 0)
    bars = stored_bars(owner_db, symbol, len(want))
    assert bars.to_numpy().tolist() == want.to_numpy().tolist()
    if case == "shuffled":
        assert len(read["repeated_rows"]) == 2 and read["reordered"] > 100 and summary["skipped"] == 2


def test_unreadable_or_ambiguous_dates_stop_the_replay_before_anything_is_sent(
        clean: dict[str, pd.DataFrame], pipeline: RunningPipeline, owner_db: Engine, tmp_path: Path) -> None:
    frame = goog()
    early_days = frame[frame.index.day <= 12]  # written M/D/YYYY, no date tells which number is the day
    ambiguous = yahoo(early_days, [f"{d.month}/{d.day}/{d.year}" for d in early_days.index])
    ambiguous.to_csv(tmp_path / "GREF.csv")
    refused = replay_cli(pipeline, str(tmp_path / "GREF.csv"))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"{tmp_path / 'GREF.csv'}: row 2, column 'Date': '9/1/2004': ambiguous: this and every other date could be "
        "M/D/YYYY or D/M/YYYY (no number above 12 tells which is the day); give --date-format '%m/%d/%Y' or "
        "--date-format '%d/%m/%Y'; nothing was sent")
    dates = [f"{d.month}/{d.day}/{d.year}" for d in frame.index]
    dates[150] = "3/32/2005"
    yahoo(frame, dates).to_csv(tmp_path / "GREF.csv")
    refused = replay_cli(pipeline, str(tmp_path / "GREF.csv"))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith(f"{tmp_path / 'GREF.csv'}: row 152, column 'Date': '3/32/2005': cannot read it "
                                     "as M/D/YYYY") and refused.stderr.strip().endswith("nothing was sent")
    # Nothing went out: the symbol's bars are exactly those of a replay sent after (any earlier record of it
    # would be ahead of them on its partition, stored first, and these would be late)
    summary = run_replay(pipeline, str(shipped("BTCUSD")), "--symbol", "GREF")
    rows = summary["accepted"]
    bars = stored_bars(owner_db, "GREF", rows)
    assert bars["ts"].iloc[0] == pd.Timestamp("2012-01-31", tz="UTC") and np.isfinite(bars["close"]).all()
