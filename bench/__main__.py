"""`python -m bench` (make bench): run the benchmarks, print a table, write JSON + markdown."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import revisions
from bench.report import Report

GROUPS = ("engine", "processor", "revisions", "ingest", "latency", "batch", "forecast", "lifecycle")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Tickflow benchmarks with baselines measured in the same run. Needs the local Kafka and "
                    "PostgreSQL (make bench starts them); uses its own database (tickflow_bench) and topics.")
    parser.add_argument("groups", nargs="*", metavar="GROUP",
                        help=f"which benchmarks (default: all of {', '.join(GROUPS)}); 'soak' runs the whole "
                             "platform for --minutes and watches its memory (make soak)")
    parser.add_argument("--out", type=Path, default=Path("bench-results"), help="where results.json/.md go")
    parser.add_argument("--bars", type=int, default=500_000, help="price records for the processor benchmark")
    parser.add_argument("--baseline", default=revisions.BASELINE,
                        help="group 'revisions': the older git revision (default %(default)s, the code of 2026-11-21)")
    parser.add_argument("--against", default=revisions.WORKING_TREE,
                        help="group 'revisions': the newer revision ('.' = the working tree as it is; the default)")
    parser.add_argument("--rounds", type=int, default=3, help="group 'revisions': rounds of each, alternating")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak run (group 'soak')")
    parser.add_argument("--batch-bars", type=int, default=1_000_000,
                        help="stored bars for the backfill/reconciliation benchmark")
    parser.add_argument("--evaluation-bars", type=int, default=1_000_000,
                        help="stored base bars for the signal-evaluation benchmark (group forecast)")
    parser.add_argument("--lifecycle-days", default="1,7,30",
                        help="days of history at which the lifecycle group measures (comma-separated)")
    parser.add_argument("--lifecycle-rate", type=float, default=2.0,
                        help="candles per second (all symbols) of the lifecycle group's history; the generator's "
                             "default is 50, scaled down so that 30 days build in minutes")
    args = parser.parse_args(argv)
    unknown = [g for g in args.groups if g not in (*GROUPS, "soak")]
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}, soak")
    args.groups = args.groups or list(GROUPS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    started = time.monotonic()
    if "engine" in args.groups:
        from bench import engine

        print("engine: pure core, no I/O", flush=True)
        engine.run(report)
    needs_services = [g for g in args.groups if g != "engine"]
    if needs_services:
        from bench import batch, forecast, lifecycle, pipeline, soak
        from bench.stack import BenchStack

        with tempfile.TemporaryDirectory(prefix="tickflow-bench-") as logs:
            stack = BenchStack.create(Path(logs))
            try:
                runners = {"processor": lambda: pipeline.run_processor(report, stack, args.bars),
                           "revisions": lambda: revisions.run(report, stack, args.bars, args.baseline, args.against,
                                                              args.rounds),
                           "ingest": lambda: pipeline.run_ingest(report, stack),
                           "latency": lambda: pipeline.run_latency(report, stack),
                           "batch": lambda: batch.run(report, stack, args.batch_bars),
                           "forecast": lambda: forecast.run(report, stack, args.evaluation_bars),
                           "lifecycle": lambda: lifecycle.run(
                               report, stack, tuple(int(d) for d in args.lifecycle_days.split(",")),
                               args.lifecycle_rate),
                           "soak": lambda: soak.run(report, stack, args.minutes)}
                for group in needs_services:
                    print(f"{group}: real local Kafka and PostgreSQL", flush=True)
                    runners[group]()
            finally:
                stack.close()
    json_path, md_path = report.write(args.out)
    print()
    print(report.markdown())
    print(f"took {time.monotonic() - started:.0f} s; results in {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
