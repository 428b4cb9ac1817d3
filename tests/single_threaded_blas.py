"""One BLAS thread per test process and per service it starts: imported by conftest.py before anything
imports numpy (its BLAS reads these when it loads).

Two pytest-xdist workers and the services they start share the two cores; OpenBLAS's own threads (one
per core, spinning while they wait for work) made tests/bench/test_bench_forecast.py's statsmodels
fits 2.5 times slower on a busy machine (63 s; 25 s with one thread).
"""
import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
