"""`python -m services.ingest`: run the ingest API with uvicorn."""
from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from services.config import get_settings


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m services.ingest",
        description=(
            "Tickflow ingest: POST /ingest validates market records and publishes them to Kafka "
            f"({settings.kafka_bootstrap}). Docs at /docs, health at /healthz and /readyz, metrics at /metrics. "
            "Settings come from TICKFLOW_* environment variables; flags override them."
        ),
    )
    parser.add_argument("--host", default=settings.ingest_host, help="bind address (default %(default)s)")
    parser.add_argument("--port", type=int, default=settings.ingest_port, help="port (default %(default)s)")
    parser.add_argument("--workers", type=int, default=settings.ingest_workers,
                        help="worker processes, each with its own Kafka producer (default %(default)s)")
    args = parser.parse_args(argv)
    # Workers are separate processes that build their own settings: pass overrides by environment.
    os.environ["TICKFLOW_INGEST_PORT"] = str(args.port)
    uvicorn.run(
        "services.ingest.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
