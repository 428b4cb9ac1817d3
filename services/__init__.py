"""Tickflow: real-time market signals.

`services.core` is the pure domain (records, bars, indicators, signals; no I/O).
The adapters beside it (`config`, `kafka`, `db`, `logs`) talk to the outside world, and each
sub-package (`generator`, `ingest`, `processor`) is a runnable service: `python -m services.<name>`.
"""
