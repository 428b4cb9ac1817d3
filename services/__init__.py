"""Tickflow: real-time market signals.

`services.core` is the pure domain (records, bars, indicators, signals; no I/O). The adapters beside
it (`config`, `cli`, `kafka_io`, `db`, `logs`, `ops`, `retry`, `http_guard`, `ingest_client`) talk to
the outside world, and each sub-package (`generator`, `ingest`, `processor`, `dashboard`, `feed`,
`replay`, `orchestration`; and the module `admin`) is a runnable service: `python -m services.<name>`.
A service imports the domain and the adapters, never another service (tests/test_dependencies.py).
"""
