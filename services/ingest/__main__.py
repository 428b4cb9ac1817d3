"""`python -m services.ingest`: run the ingest API with uvicorn, and its operations port.

The workers count into prometheus_client's multiprocess files, in a directory made fresh for
this start (never an inherited one: stale files would be summed in) and removed when it ends; a
worker marks itself dead on exit (services/ingest/app.py). The operations port
(services/ingest/ops.py) is served by this supervising process and sums every worker, so a
scrape sees every request once, whichever worker answered it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile

import uvicorn

from services.cli import add_setting_flags, settings_with_flags
from services.config import get_settings
from services.http_guard import server_options

FLAGS = {"--host": "ingest_host", "--port": "ingest_port", "--workers": "ingest_workers",
         "--ops-port": "ingest_ops_port"}
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is first imported


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m services.ingest",
        description=(
            "Tickflow ingest: POST /ingest validates market records and publishes them to Kafka "
            f"({settings.kafka_bootstrap}); health at /healthz and /readyz. Metrics (/metrics) and docs "
            "(/docs) are on the operations port. "
            "Settings come from TICKFLOW_* environment variables; flags override them."
        ),
    )
    add_setting_flags(parser, settings, FLAGS, metavars={"--ops-port": "PORT"})
    settings = settings_with_flags(parser, parser.parse_args(argv), settings, FLAGS)
    # Workers are separate processes that build their own settings: pass overrides by environment.
    os.environ["TICKFLOW_INGEST_PORT"] = str(settings.ingest_port)
    metrics_dir = tempfile.mkdtemp(prefix="tickflow-ingest-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir  # before anything imports prometheus_client
    ops = None
    # With one worker uvicorn re-raises the signal that stopped it, after restoring this handler:
    # leave through SystemExit, so that the directory is removed below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if settings.ingest_ops_port:
            from services.ingest.ops import serve_ops

            ops = serve_ops(settings)
        uvicorn.run(
            "services.ingest.app:create_app",
            factory=True,
            host=settings.ingest_host,
            port=settings.ingest_port,
            workers=settings.ingest_workers,
            log_level="warning",
            access_log=False,
            **server_options(settings),
        )
    finally:
        if ops is not None:
            ops.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
