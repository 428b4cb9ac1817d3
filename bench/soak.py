"""Soak: the whole real path (generator → ingest → Kafka → processor → PostgreSQL) at a fixed rate
for minutes, watching every service's memory. Not in the default `make bench` (it takes as long
as you ask); run it with `make soak` or `python -m bench soak --minutes 10`.

Memory is judged on the second half of the run: the first minutes include warm-up (imports,
connection pools, allocator arenas), and what matters is whether RSS keeps rising after that.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.measure import rss_mb
from bench.report import Measurement, Report
from bench.stack import BenchStack, free_port

SAMPLE_EVERY_S = 5.0


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (ingest's uvicorn workers are child processes)."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += rss_mb(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo += [int(child) for child in task.read_text().split()]
    return total


def _slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS over time, MB per minute."""
    times, rss = zip(*samples)
    return statistics.linear_regression(times, rss).slope * 60


def run(report: Report, stack: BenchStack, minutes: float = 10.0, rate: int = 2_000) -> None:
    stack.fresh_namespace()
    ingest_port, metrics_port, generator_port = free_port(), free_port(), free_port()
    services = {
        "ingest": stack.spawn("ingest", "--port", str(ingest_port), "--workers", "2", "--ops-port", "0",
                              health=f"http://127.0.0.1:{ingest_port}/readyz"),
        "processor": stack.spawn("processor", "--metrics-port", str(metrics_port),
                                 health=f"http://127.0.0.1:{metrics_port}/readyz"),
    }
    services["generator"] = stack.spawn("generator", "--rate", str(rate), "--workers", "2", "--port",
                                        str(generator_port), "--ingest-url", f"http://127.0.0.1:{ingest_port}",
                                        "--progress", "never", health=f"http://127.0.0.1:{generator_port}/healthz")
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in services}
    started = time.monotonic()
    end = started + minutes * 60
    bars_at_start = stack.count()
    next_print = started + 60
    while time.monotonic() < end:
        now = time.monotonic()
        for name, proc in services.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} during the soak; logs in {stack.log_dir}")
            samples[name].append((now - started, tree_rss_mb(proc.pid)))
        if now >= next_print:
            print(f"  {(now - started) / 60:.0f} min: {stack.count() - bars_at_start:,} bars; RSS "
                  + ", ".join(f"{n} {s[-1][1]:.0f} MB" for n, s in samples.items()), flush=True)
            next_print += 60
        time.sleep(SAMPLE_EVERY_S)
    bars = stack.count() - bars_at_start
    stack.stop_all()
    report.add(Measurement("soak", "bars stored during the run", bars / (minutes * 60), "bars/s",
                           f"{bars:,} bars in {minutes:g} min; generator asked for {rate:,} candles/s "
                           "plus side records"))
    for name, series in samples.items():
        second_half = [s for s in series if s[0] >= minutes * 30]
        report.add(Measurement(
            "soak", f"{name} RSS growth over the second half", _slope_mb_per_min(second_half), "MB/min",
            f"RSS {series[0][1]:.0f} MB at start, {second_half[0][1]:.0f} MB at half-time, "
            f"{series[-1][1]:.0f} MB at the end; {len(series)} samples every {SAMPLE_EVERY_S:g} s"))
