"""`python -m services.processor`: run one member of the processor consumer group."""
from __future__ import annotations

import argparse
import faulthandler
import signal
import sys

from services.cli import add_setting_flags, settings_with_flags
from services.config import get_settings
from services.logs import setup_logging

FLAGS = {"--group": "processor_group", "--batch-max": "processor_batch_max",
         "--batch-timeout-ms": "processor_batch_timeout_ms", "--metrics-port": "processor_metrics_port"}


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m services.processor",
        description=(
            "Tickflow processor: consumes market records from Kafka "
            f"({settings.kafka_bootstrap}) as a member of a consumer group, "
            "computes indicators and signals per symbol, and stores each batch with its offsets in ONE "
            "PostgreSQL transaction. Run several for scale-out (at most one per price partition). "
            "Settings come from TICKFLOW_* environment variables; flags override them."
        ),
    )
    add_setting_flags(parser, settings, FLAGS, metavars={"--group": "NAME", "--metrics-port": "PORT"})
    settings = settings_with_flags(parser, parser.parse_args(argv), settings, FLAGS)
    setup_logging(settings.log_level, settings.log_format)

    from services.processor.health import serve_health
    from services.processor.runner import Processor

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack to stderr
    processor = Processor(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: processor.stop())
    server = None
    if settings.processor_metrics_port:
        server = serve_health(settings.processor_metrics_host, settings.processor_metrics_port, processor,
                              settings.processor_liveness_timeout_s)
    try:
        processor.run()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
