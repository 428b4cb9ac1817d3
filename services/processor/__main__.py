"""`python -m services.processor`: run one member of the processor consumer group."""
from __future__ import annotations

import argparse
import faulthandler
import signal
import sys

from services.cli import add_setting_flags, settings_with_flags
from services.config import get_settings
from services.heap import freeze_startup_heap
from services.logs import setup_logging

# The batch builder keeps the GIL busy; the writer thread and kafka-python's IO thread come back from
# the network needing it, and at CPython's default 5 ms switch interval each return could wait that
# long: a batch's transaction (a round trip per request) and the next fetch took longer than their work.
GIL_SWITCH_INTERVAL_S = 0.0005

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

    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack to stderr
    processor = Processor(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: processor.stop())
    server = None
    if settings.processor_metrics_port:
        server = serve_health(settings.processor_metrics_host, settings.processor_metrics_port, processor,
                              settings.processor_liveness_timeout_s)
    freeze_startup_heap()
    try:
        processor.run()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
