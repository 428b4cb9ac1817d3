"""Tickflow benchmarks: `make bench` (python -m bench). Every figure sits beside baselines
measured in the same run, because absolute numbers on a shared 2-core machine drift."""
