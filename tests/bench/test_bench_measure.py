"""CPU accounting of the benchmarks (bench/measure.py) when processes come and go during a run."""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Iterator

import pytest

from bench.measure import StreamTooShort, cpu_seconds, cpu_used, measure_stream


def test_a_process_that_ends_during_the_run_takes_nothing_off_and_a_new_one_counts_whole() -> None:
    start = {1: 10.0, 2: 5.0, 3: 40.0}  # 3: e.g. an autovacuum worker, gone by the end
    end = {1: 12.5, 2: 5.0, 4: 0.75}  # 4: started during the run
    assert cpu_used(start, end) == 2.5 + 0.0 + 0.75


def test_cpu_seconds_reads_what_a_process_used_and_skips_one_that_is_gone() -> None:
    busy = subprocess.run([sys.executable, "-c", "import os, time\nt = time.process_time()\n"
                           "while time.process_time() - t < 0.3: pass\nprint(os.getpid())"],
                          capture_output=True, text=True, check=True)
    gone = int(busy.stdout)
    used = cpu_seconds([os.getpid(), gone])
    assert list(used) == [os.getpid()]
    assert used[os.getpid()] > 0



@pytest.fixture
def consumer() -> Iterator[subprocess.Popen]:
    """A process standing for the consumer under test (its CPU and memory are read, nothing more)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_the_window_opens_at_the_first_sample_past_ten_per_cent_and_ends_at_the_whole_stream(
        consumer: subprocess.Popen) -> None:
    readings = iter([0, 5, 10, 20, 30, 50, 80, 100, 100])  # 10 opens the window; the next sample starts it
    run = measure_stream([consumer], lambda: next(readings), 100)
    assert run.rate * run.seconds == pytest.approx(80)  # 20 → 100
    assert set(run.cpu_us_per_bar) == {"processor", "PostgreSQL", "Kafka"}
    assert next(readings) == 100  # the sample after the one that reached the end was not needed


def test_a_stream_that_ends_before_it_can_be_timed_is_a_clear_error_not_a_division_by_zero(
        consumer: subprocess.Popen) -> None:
    with pytest.raises(StreamTooShort, match="all 3,000 records were committed before the sustained part"):
        measure_stream([consumer], lambda: 3_000, 3_000)
