"""`make bench` group lifecycle: the costs of a database that has been running for 1, 7 and 30 days.

History is written through the processor's batch path (services/processor/fast_forward.py) a day
at a time, each day followed by what data_retention does (partitions ahead, checkpoints, expired
partitions dropped), up to the simulated now = today's midnight (UTC). At each of `days` it measures:
the database's size on disk; the dashboard's REST p50/p99 for the page's default views (a real
dashboard process); each batch DAG's duration and peak memory for its default window (each job in
a process of its own, bench/lifecycle_job.py); processor start to its first commit; and a state
rebuild from the newest checkpoint. Every cost should stay flat as history grows (README "Data
lifecycle"): the figures at 30 days are reported as ratios to those at 1 day.

The default rate (`--lifecycle-rate`, candles per second over all symbols) is scaled down from
the generator's 50 so that 30 days build in minutes on two cores; sizes grow linearly with it
(docs/deploy.md scales them back up).
"""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

import httpx
from sqlalchemy import text

from bench.lifecycle_job import data_retention
from bench.pipeline import candles, produce
from bench.report import Measurement, Report
from bench.stack import ROOT, BenchStack, free_port, wait_for
from services.core.stream import SymbolStream
from services.db.connect import pg_connection
from services.db.migrations import migrate
from services.db.queries import rebuild_source
from services.processor.fast_forward import FastForward

DAY = 86_400
DAYS = (1, 7, 30)
DEFAULT_RATE = 2.0  # candles/s over all symbols (the generator's default: 50)
REQUESTS = 40  # per view and measurement
GROUP = "lifecycle"
JOBS = ("indicator_reconciliation", "indicator_backfill", "market_summary", "signal_evaluation", "data_retention")


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _views(symbol: str) -> list[str]:
    """What the dashboard page asks for when it opens (static/app.js, chart.js, cards.js)."""
    q = f"symbol={symbol}&timeframe=raw"
    return ["/api/symbols", "/api/timeframes", f"/api/bars?{q}&order=desc&limit=2000",
            f"/api/signals?{q}&order=desc&limit=1000", "/api/summary?period=1d&timeframe=raw",
            f"/api/bars?symbol={symbol}&timeframe=1m&order=desc&limit=2000",
            f"/api/bars/forming?symbol={symbol}&timeframe=1h"]


def _rest(base: str, symbol: str, requests: int) -> tuple[float, float]:
    """p50 and p99 (ms) over every default view, `requests` times each."""
    by_view: dict[str, list[float]] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(requests):
            for path in _views(symbol):
                began = time.perf_counter()
                response = client.get(path)
                by_view.setdefault(path, []).append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
    print("  " + GROUP + ": REST p50 by view: " + ", ".join(
        f"{path.split('?')[0]} {statistics.median(ms):.1f} ms" for path, ms in by_view.items()), flush=True)
    took = sorted(ms for times in by_view.values() for ms in times)
    return statistics.median(took), took[min(len(took) - 1, math.ceil(0.99 * len(took)) - 1)]


def _job(stack: BenchStack, job: str, end: datetime) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-m", "bench.lifecycle_job", job, end.isoformat()], cwd=ROOT,
                          env=stack.env(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{job} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _first_commit(stack: BenchStack, n: int) -> float:
    """Seconds from starting a processor (a new group on the history's database) to its first commit."""
    group = f"{stack.settings.processor_group}-start-{n}"
    produce(stack, candles(stack, 20, seed=n))
    began = time.perf_counter()
    proc = stack.spawn("processor", processor_group=group, processor_metrics_port=0)

    def committed() -> bool:
        with stack.db.connect() as conn:
            return bool(conn.execute(text("SELECT 1 FROM processor_offsets WHERE consumer_group = :g"),
                                     {"g": group}).first())
    try:
        wait_for(committed, 120, 0.02, f"the first commit of processor group {group}")
        return time.perf_counter() - began
    finally:
        proc.terminate()
        proc.wait(30)
        stack.processes.remove(proc)


def _rebuild_ms(stack: BenchStack) -> float:
    """Mean time to rebuild a symbol's state from its newest checkpoint and the bars after it (all its
    bars before the first checkpoint)."""
    s = stack.settings
    params, rules, timeframes = s.indicator_params(), s.signal_rules(), s.timeframe_specs()
    took = []
    with pg_connection(s.database_url, "bench-lifecycle") as conn, conn, conn.cursor() as cur:
        for symbol in s.symbols:
            began = time.perf_counter()
            source = rebuild_source(cur, symbol, asdict(params), s.timeframes)
            SymbolStream.replay(symbol, source.bars, params, rules, timeframes, source.start)
            took.append((time.perf_counter() - began) * 1000)
    return statistics.mean(took)


def _tier_sizes(stack: BenchStack, now: datetime) -> dict[str, float]:
    """MB on disk per simulated day of each tier: the day before `now`'s partitions (tables and indexes),
    a partition that spans longer divided by the days it holds (what docs/deploy.md sizes volumes from)."""
    day_sql = """
        SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = ANY(CAST(:parents AS regclass[])) AND c.relname ~ :pattern"""
    yesterday = _utc(now.timestamp() - DAY).strftime("%Y%m%d")
    tiers = {"raw MB/day": (["bars", "signals"], f"_raw_{yesterday}$"),
             "market MB/day": (["order_book", "news_sentiment", "market_data", "economic_indicators"],
                               f"_{yesterday}$"),
             "1m MB/day": (["bars", "signals"], "_1m_"), "kept candles MB/day": (["bars", "signals"], "_(5m|1h|1d)_")}
    out = {}
    with stack.db.connect() as conn:
        first = conn.execute(text("SELECT min(ts) FROM bars")).scalar_one()
        held = max(1.0, (now - first).total_seconds() / DAY) if first is not None else 1.0
        for name, (parents, pattern) in tiers.items():
            size = conn.execute(text(day_sql), {"parents": parents, "pattern": pattern}).scalar_one() or 0
            days_held = 1.0 if name in ("raw MB/day", "market MB/day") else held
            out[name] = float(size) / 1e6 / days_held
    return out


def _fresh_schema(stack: BenchStack) -> None:
    with stack.db.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate(stack.db)


def run(report: Report, stack: BenchStack, days: tuple[int, ...] = DAYS, rate: float = DEFAULT_RATE,
        requests: int = REQUESTS, jobs: tuple[str, ...] = JOBS) -> None:
    _fresh_schema(stack)
    settings = stack.settings
    interval = len(settings.symbols) / rate
    end = math.floor(time.time() / DAY) * DAY  # today's midnight (UTC): each simulated day is a calendar day
    start = end - max(days) * DAY
    port = free_port()
    stack.spawn("dashboard", health=f"http://127.0.0.1:{port}/healthz", dashboard_port=port)
    writer = FastForward(settings)
    figures: dict[int, dict[str, float]] = {}
    try:
        for day in range(1, max(days) + 1):
            now = start + day * DAY
            counts = writer.run(now - DAY, now, interval)
            print(f"  {GROUP}: day {day}: {counts.records:,} records in {counts.seconds:.0f} s", flush=True)
            # the worst case for a rebuild: a whole day of bars since the last checkpoint
            rebuild_ms = _rebuild_ms(stack) if day in days else 0.0
            data_retention(settings, _utc(now))
            with pg_connection(settings.admin_database_url, "bench-lifecycle") as conn:
                # what autovacuum does while a live day fills its partitions (here written in seconds):
                # without statistics a summary query over the new day was planned as a nested loop (400 s)
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("ANALYZE")
            if day in days:
                figures[day] = {**_measure(stack, day, _utc(now), port, requests, jobs),
                                "state rebuild ms": rebuild_ms}
    finally:
        writer.close()
        stack.stop_all()
        _fresh_schema(stack)  # the other groups start from an empty schema
    _report(report, figures, days, rate)


def _measure(stack: BenchStack, day: int, now: datetime, port: int, requests: int,
             jobs: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    with stack.db.connect() as conn:
        out["database MB"] = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one() / 1e6
        out["stored base bars"] = conn.execute(text("SELECT count(*) FROM bars WHERE timeframe = 'raw'")).scalar_one()
    out.update(_tier_sizes(stack, now))
    out["REST p50 ms"], out["REST p99 ms"] = _rest(f"http://127.0.0.1:{port}", stack.settings.symbols[0], requests)
    for job in jobs:
        result = _job(stack, job, now)
        out[f"{job} s"], out[f"{job} peak MB"] = result["seconds"], result["peak_mb"]
    out["processor start to first commit s"] = _first_commit(stack, day)
    print(f"  {GROUP}: day {day}: " + ", ".join(f"{k} {v:,.1f}" for k, v in out.items()), flush=True)
    return out


def _report(report: Report, figures: dict[int, dict[str, float]], days: tuple[int, ...], rate: float) -> None:
    first, last = min(figures), max(figures)
    note = f"after {{d}} day(s) at {rate:g} candles/s (generator default 50), retention on"
    for name in figures[first]:
        for day in days:
            value = figures[day][name]
            base = figures[first][name]
            ratio = value / base if day == last and day != first and base else None
            report.add(Measurement(GROUP, f"{name} @ {day}d", value, name.rsplit(" ", 1)[-1],
                                   note.format(d=day), ratio, f"at {first} day" if ratio is not None else ""))
