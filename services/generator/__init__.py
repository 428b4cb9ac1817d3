"""Tickflow generator: simulated market data pushed to ingest over HTTP.

Run ``python -m services.generator --help``.  The simulation itself is pure and lives in
``services.core.simulation``; ``pusher`` sends batches with retries, ``app`` is the small HTTP API.
"""
