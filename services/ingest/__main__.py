"""`python -m services.ingest`: run the ingest API with uvicorn."""
from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from services.cli import add_setting_flags, settings_with_flags
from services.config import get_settings

FLAGS = {"--host": "ingest_host", "--port": "ingest_port", "--workers": "ingest_workers"}


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
    add_setting_flags(parser, settings, FLAGS)
    settings = settings_with_flags(parser, parser.parse_args(argv), settings, FLAGS)
    # Workers are separate processes that build their own settings: pass overrides by environment.
    os.environ["TICKFLOW_INGEST_PORT"] = str(settings.ingest_port)
    uvicorn.run(
        "services.ingest.app:create_app",
        factory=True,
        host=settings.ingest_host,
        port=settings.ingest_port,
        workers=settings.ingest_workers,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
