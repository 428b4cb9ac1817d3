"""Tickflow generator: simulated market data pushed to ingest over HTTP.

Run ``python -m services.generator --help``.  The simulation itself is pure and lives in
``services.core.simulation``; batches go to ingest through the shared ingest client
(``services.ingest_client``); ``app`` is the small HTTP API.
"""
