"""Real price history shipped inside the `backtesting` package (a test/bench dependency), read where
pip installed it, never copied into this repository (README, "Real market data").

    python -m bench.datasets GOOG     # prints the installed file's path (make replay uses it)
"""
from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

# file name -> (symbol it is replayed as, rows, what it is)
SHIPPED = {
    "GOOG": ("GOOG", 2148, "Alphabet, daily 2004-08-19 .. 2013-03-01"),
    "EURUSD": ("EURUSD", 5000, "EUR/USD, hourly 2017-04-19 .. 2018-02-07"),
    "BTCUSD": ("BTC/USD", 156, "Bitcoin in USD, monthly 2012-01 .. 2024-12, fractional volume"),
}


def shipped(name: str) -> Path:
    """The installed `backtesting/test/<name>.csv` (without importing backtesting, which loads bokeh)."""
    if name not in SHIPPED:
        raise KeyError(f"{name!r}: the backtesting package ships {', '.join(SHIPPED)}")
    try:
        path = Path(str(distribution("backtesting").locate_file(f"backtesting/test/{name}.csv")))
    except PackageNotFoundError:
        raise FileNotFoundError("the `backtesting` package is not installed (it comes with the test and "
                                "bench extras: make install)") from None
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not in the installed backtesting package")
    return path


if __name__ == "__main__":
    try:
        print(shipped(sys.argv[1] if len(sys.argv) > 1 else "GOOG"))
    except (KeyError, FileNotFoundError) as exc:
        sys.exit(str(exc))
