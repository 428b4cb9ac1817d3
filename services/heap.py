"""The garbage collector in the services on the stream's path (ingest, processor).

CPython's cyclic collector walks every tracked object on a full collection, and it holds the GIL,
so every thread of the process waits. What start-up makes (modules, settings, the Kafka and HTTP
libraries: about 100k objects) lives as long as the process; left in the collector's sight it made
each full collection 60-70 ms, and an ingest worker under load ran one every 10 s. Frozen once
start-up is over, those objects are never walked again (they are still freed as usual if their last
reference goes), and a full collection walks only what the stream made since.
"""
from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect what start-up left as garbage, then move everything alive out of the collector's sight."""
    gc.collect()
    gc.freeze()
