"""Measuring a stream consumer from outside: its sustained rate, and the CPU that it, PostgreSQL and
Kafka spend per record, read from /proc (the processor, its same-run peer, two revisions of it)."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection

import psycopg2

from bench.stack import wait_for


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pids_named(name: str) -> list[int]:
    """Every process whose command name is `name` (e.g. all PostgreSQL backends)."""
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                found.append(int(comm.parent.name))
        except OSError:
            pass  # gone meanwhile
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time each process has used so far (those that still exist)."""
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (stat's 14, 15)
    return used


def cpu_used(start: dict[int, float], end: dict[int, float]) -> float:
    """CPU seconds used between two `cpu_seconds` readings: a process that appeared meanwhile counts
    whole, one that ended meanwhile counts nothing (not minus what it had used before: PostgreSQL's
    autovacuum workers come and go, and one ending took seconds off the figure)."""
    return sum(used - start.get(pid, 0.0) for pid, used in end.items())


class StreamTooShort(RuntimeError):
    """The stream ended before its sustained part could be measured."""


@dataclass
class ProcessorRun:
    rate: float  # bars/s from 10% to 100% of the stream
    seconds: float
    rss_start: float  # MB, first instance
    rss_end: float
    cpu_us_per_bar: dict[str, float]  # CPU time per bar stored: processor, PostgreSQL, Kafka


class Progress:
    """How far the consumers under test have got, read by one query on a connection of its own.

    The query must be cheap (a count(*) over the growing table, every 50 ms, took most of a core:
    the harness competed with what it measured), and the connection's backend is left out of the
    PostgreSQL CPU figure (`pid`)."""

    def __init__(self, dsn: str, sql: str, params: tuple[object, ...] = ()) -> None:
        self._conn = psycopg2.connect(dsn, application_name="tickflow-bench-progress")
        self._conn.autocommit = True
        self._sql, self._params = sql, params
        with self._conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid: int = cur.fetchone()[0]

    def __call__(self) -> int:
        with self._conn.cursor() as cur:
            cur.execute(self._sql, self._params)
            return int(cur.fetchone()[0] or 0)

    def close(self) -> None:
        self._conn.close()


def committed_records(dsn: str, group: str) -> Progress:
    """Records the processor group has committed: on a topic that starts at offset 0, the sum of its
    stored next offsets, which advance in the same transaction as the rows (one index read)."""
    return Progress(dsn, "SELECT sum(next_offset) FROM processor_offsets WHERE consumer_group = %s", (group,))


def measure_committed(procs: list[subprocess.Popen], dsn: str, group: str, total: int) -> ProcessorRun:
    """measure_stream of processors (of any revision) by the records their group has committed."""
    progress = committed_records(dsn, group)
    try:
        return measure_stream(procs, progress, total, (progress.pid,))
    finally:
        progress.close()


def measure_stream(procs: list[subprocess.Popen], progress: Callable[[], int], total: int,
                   harness_backends: Collection[int] = ()) -> ProcessorRun:
    """Sustained rate of started consumers (`procs`) until `progress()` reaches `total`, and the CPU the
    consumers, PostgreSQL (but the harness's own backends) and Kafka used per record over the
    sustained part (10% → 100%). `progress` must be cheap: it runs every 50 ms."""
    samples: list[tuple[float, int]] = []

    def sample() -> bool:
        samples.append((time.perf_counter(), progress()))
        return samples[-1][1] >= total

    def groups() -> dict[str, list[int]]:  # looked up at both ends: PostgreSQL's processes come and go
        return {"processor": [p.pid for p in procs],
                "PostgreSQL": [pid for pid in pids_named("postgres") if pid not in harness_backends],
                "Kafka": pids_named("java")}

    # Looked up before the window opens, so that opening it costs only the CPU reads: scanning /proc
    # took long enough for a small stream to end before the first sample.
    start_pids = groups()
    wait_for(lambda: progress() >= total // 10, 300, 0.02, "10% of the stream")
    cpu_start = {name: cpu_seconds(pids) for name, pids in start_pids.items()}
    if sample():
        raise StreamTooShort(f"all {total:,} records were committed before the sustained part could be timed "
                             f"(10% → 100% within one sample): use more records or smaller batches")
    rss_start = rss_mb(procs[0].pid)
    wait_for(sample, 600, 0.05, "the whole stream")
    cpu_end = {name: cpu_seconds(pids) for name, pids in groups().items()}
    rss_end = rss_mb(procs[0].pid)
    (t0, n0), (t1, n1) = samples[0], samples[-1]
    # The last sample may have landed up to one interval after the end: take the first that reached it.
    t1 = next(t for t, n in samples if n >= total)
    cpu = {name: cpu_used(cpu_start[name], cpu_end[name]) / (n1 - n0) * 1e6 for name in cpu_end}
    return ProcessorRun((n1 - n0) / (t1 - t0), t1 - t0, rss_start, rss_end, cpu)
