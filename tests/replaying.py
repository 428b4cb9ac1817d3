"""Running `python -m services.replay` against a test pipeline and reading what it stored (tests/replay)."""
from __future__ import annotations

import subprocess
import sys

import orjson
import pandas as pd
from running_services import RunningPipeline
from sqlalchemy import Engine, text
from support import ROOT

from services.core.timeframes import RAW


def replay_cli(pipeline: RunningPipeline, *args: str) -> subprocess.CompletedProcess:
    """The replay's command line against the pipeline's ingest (JSON summary, no progress bar)."""
    return subprocess.run([sys.executable, "-m", "services.replay", *args, "--json", "--progress", "never",
                           "--ingest-url", pipeline.ingest_url, "--max-retries", "5"],
                          cwd=ROOT, env=pipeline.env, capture_output=True, text=True, timeout=300)


def run_replay(pipeline: RunningPipeline, *args: str) -> dict:
    """A replay that must succeed (exit 0): its JSON summary."""
    done = replay_cli(pipeline, *args)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    return orjson.loads(done.stdout.strip().splitlines()[-1])


def stored(db: Engine, symbol: str, timeframe: str = RAW) -> pd.DataFrame:
    with db.connect() as conn:
        return pd.read_sql_query(text("SELECT * FROM bars WHERE symbol = :s AND timeframe = :tf ORDER BY ts"), conn,
                                 params={"s": symbol, "tf": timeframe})


def count(db: Engine, sql: str, **params: object) -> int:
    with db.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()
