"""The pipeline's services as subprocesses on a test's stack: ingest, processor, and a generator run.

`ingest_and_processor` is the running pipeline the end-to-end tests (integration, dashboard, DAG
and fault tests) feed; `start_ingest` and `start_processor` start one service on a free port.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from support import ServiceProcess, free_port, service_env

from services.config import Settings

GENERATOR_EXIT_TIMEOUT_S = 180


def start_ingest(env: dict[str, str], log_dir: Path, ops_port: int = 0) -> tuple[ServiceProcess, int]:
    """`python -m services.ingest` with two workers on a free port (its operations port on `ops_port`,
    none if 0); returns it and the port."""
    port = free_port()
    args = ["--port", str(port), "--workers", "2", "--ops-port", str(ops_port)]
    return ServiceProcess("ingest", args, env, log_dir), port


def start_processor(env: dict[str, str], log_dir: Path) -> tuple[ServiceProcess, int]:
    """`python -m services.processor` with its metrics on a free port; returns it and the port."""
    port = free_port()
    return ServiceProcess("processor", ["--metrics-port", str(port)], env, log_dir), port


@dataclass
class RunningPipeline:
    ingest: ServiceProcess
    ingest_port: int
    processor: ServiceProcess
    metrics_port: int
    env: dict[str, str]  # the services' environment, for more services on the same stack

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"


@contextmanager
def ingest_and_processor(
    stack: Settings, log_dir: Path, processor_settings: dict[str, object] | None = None
) -> Iterator[RunningPipeline]:
    """ingest and a processor on `stack`, both ready; on leaving, both must stop cleanly (exit 0).

    `processor_settings`: extra settings for the processor only (TICKFLOW_<NAME> in its environment).
    """
    env = service_env(stack)
    ingest, ingest_port = start_ingest(env, log_dir)
    processor, metrics_port = start_processor(service_env(stack, **(processor_settings or {})), log_dir)
    try:
        ingest.wait_http(f"http://127.0.0.1:{ingest_port}/readyz")
        processor.wait_http(f"http://127.0.0.1:{metrics_port}/readyz")
        yield RunningPipeline(ingest, ingest_port, processor, metrics_port, env)
    finally:
        assert processor.stop() == 0, processor.log_tail()
        assert ingest.stop() == 0, ingest.log_tail()


def send_simulated_stream(pipeline: RunningPipeline, log_dir: Path, *, count: int, seed: int, start: float,
                          interval: float) -> None:
    """Run the generator at full speed until it has sent `count` candles to the pipeline's ingest."""
    generator = ServiceProcess("generator", [
        "--rate", "max", "--count", str(count), "--seed", str(seed), "--start", str(start),
        "--interval", str(interval), "--batch", "500", "--no-server", "--ingest-url", pipeline.ingest_url,
        "--progress", "never",
    ], pipeline.env, log_dir)
    assert generator.proc.wait(timeout=GENERATOR_EXIT_TIMEOUT_S) == 0, generator.log_tail()
    generator.stop()
