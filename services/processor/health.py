"""A small HTTP side door for the processor: /healthz, /readyz and /metrics (Prometheus text)."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import orjson

from services.processor.runner import ProcessorStats


def render_metrics(stats: ProcessorStats) -> str:
    counters = ("batches", "messages", "bars", "rolled_bars", "signals", "late_bars", "dead_letters", "other_records",
                "write_failures", "rewinds", "reconnects", "state_rebuilds", "stranded_joins")
    lines = []
    for name in counters:
        lines += [f"# TYPE tickflow_processor_{name}_total counter",
                  f"tickflow_processor_{name}_total {getattr(stats, name)}"]
    lines += ["# TYPE tickflow_processor_last_batch_ms gauge", f"tickflow_processor_last_batch_ms {stats.last_batch_ms:.3f}",
              "# TYPE tickflow_processor_assigned_partitions gauge", f"tickflow_processor_assigned_partitions {stats.assigned}"]
    return "\n".join(lines) + "\n"


def serve_health(host: str, port: int, stats: ProcessorStats, liveness_timeout_s: float) -> ThreadingHTTPServer:
    """Start the side door in a daemon thread and return the server (call .shutdown() to stop).

    /healthz fails once the poll loop has not run for `liveness_timeout_s` seconds.
    """
    stalled = orjson.dumps({"status": "stalled",
                            "detail": f"the poll loop has not run for {liveness_timeout_s:g} s"}).decode()

    routes: dict[str, Callable[[], tuple[int, str, str]]] = {
        "/healthz": lambda: (
            (200, "application/json", '{"status":"ok"}')
            if time.monotonic() - stats.last_loop_at < liveness_timeout_s
            else (503, "application/json", stalled)
        ),
        "/readyz": lambda: (
            (200, "application/json", '{"status":"ready"}') if stats.assigned
            else (503, "application/json", '{"status":"waiting","detail":"no partitions assigned yet"}')
        ),
        "/metrics": lambda: (200, "text/plain; version=0.0.4", render_metrics(stats)),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            route = routes.get(self.path.split("?")[0])
            status, ctype, body = route() if route else (404, "application/json", '{"detail":"not found"}')
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # quiet: probes hit this often
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="processor-health", daemon=True).start()
    return server
