"""`python -m services.processor`: run one member of the processor consumer group."""
from __future__ import annotations

import argparse
import faulthandler
import signal
import sys

from services.config import get_settings
from services.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m services.processor",
        description=(
            "Tickflow processor: consumes market records from Kafka "
            f"({settings.kafka_bootstrap}) as a member of consumer group {settings.processor_group!r}, "
            "computes indicators and signals per symbol, and stores each batch with its offsets in ONE "
            "PostgreSQL transaction. Run several for scale-out (at most one per price partition). "
            "Settings come from TICKFLOW_* environment variables; flags override them."
        ),
    )
    parser.add_argument("--group", default=settings.processor_group, help="consumer group (default %(default)s)")
    parser.add_argument("--batch-max", type=int, default=settings.processor_batch_max,
                        help="most records per batch/transaction (default %(default)s)")
    parser.add_argument("--batch-timeout-ms", type=int, default=settings.processor_batch_timeout_ms,
                        help="longest wait for a batch to fill (default %(default)s)")
    parser.add_argument("--metrics-port", type=int, default=settings.processor_metrics_port,
                        help="port for /healthz, /readyz, /metrics (host: TICKFLOW_PROCESSOR_METRICS_HOST); 0 disables (default %(default)s)")
    args = parser.parse_args(argv)
    settings = settings.model_copy(update={
        "processor_group": args.group, "processor_batch_max": args.batch_max,
        "processor_batch_timeout_ms": args.batch_timeout_ms,
    })
    setup_logging(settings.log_level, settings.log_format)

    from services.processor.health import serve_health
    from services.processor.runner import Processor

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 <pid>` prints every thread's stack to stderr
    processor = Processor(settings)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: processor.stop())
    server = serve_health(settings.processor_metrics_host, args.metrics_port, processor.stats) if args.metrics_port else None
    try:
        processor.run()
    finally:
        if server is not None:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
