"""The real GOOG daily history shipped in the `backtesting` package (2004-08-19 .. 2013-03-01), read
from the installed package, never copied: its rows as price records and the pipeline that stores them."""
from __future__ import annotations

import importlib.resources
from dataclasses import dataclass

import httpx
import pandas as pd

SYMBOL = "GOOG"


def goog_csv() -> pd.DataFrame:
    """Open, High, Low, Close, Volume by trading day (a UTC DatetimeIndex at midnight)."""
    with importlib.resources.as_file(importlib.resources.files("backtesting") / "test" / "GOOG.csv") as path:
        frame = pd.read_csv(path, index_col=0, parse_dates=True)
    frame.index = frame.index.tz_localize("UTC")
    return frame


def price_records(frame: pd.DataFrame) -> list[dict]:
    """One stock-price record (README, "Ingest API") per day, stamped at UTC midnight."""
    seconds = frame.index.as_unit("s").asi8
    return [{"stock_symbol": SYMBOL, "opening_price": float(o), "closing_price": float(c), "high": float(h),
             "low": float(lo), "volume": int(v), "timestamp": float(t)}
            for o, h, lo, c, v, t in zip(frame.Open, frame.High, frame.Low, frame.Close, frame.Volume, seconds)]


def post_records(ingest_url: str, records: list[dict], batch: int = 500) -> None:
    with httpx.Client(base_url=ingest_url, timeout=30) as client:
        for i in range(0, len(records), batch):
            answer = client.post("/ingest", json=records[i:i + batch])
            assert answer.status_code == 200 and answer.json()["rejected"] == 0, answer.text[:2000]


@dataclass
class GoogDaily:
    csv: pd.DataFrame  # the file as shipped
    bars: pd.DataFrame  # what the processor stored for GOOG, every timeframe
    signals: pd.DataFrame
