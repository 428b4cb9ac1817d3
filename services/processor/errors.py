"""How the processor sorts a failed batch: retry it from the stored offsets, or isolate its records."""
from __future__ import annotations

import psycopg2
from kafka.errors import KafkaError

from services.processor.store import OffsetConflict

DB_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, OffsetConflict)
# Infrastructure: a batch that cannot be stored is retried from the last committed offsets.
RETRYABLE = (*DB_ERRORS, KafkaError)
# Data: the batch holds a record that cannot be computed or stored (PostgreSQL refuses a value,
# the binary encoder overflows, the engine refuses it). Retrying would fail forever, so the
# offending records are isolated and dead-lettered, and the rest is stored (Processor._isolate).
DATA_ERRORS = (psycopg2.DataError, psycopg2.IntegrityError, ArithmeticError, ValueError, TypeError)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()
