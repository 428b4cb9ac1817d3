"""CPU accounting of the benchmarks (bench/measure.py) when processes come and go during a run."""
from __future__ import annotations

import os
import subprocess
import sys

from bench.measure import cpu_seconds, cpu_used


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
