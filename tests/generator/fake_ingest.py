"""A fake ingest for the generator tests: POST /ingest on a real local HTTP server, scripted answers."""
from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from services.core.records import DEFAULT_MAX_FUTURE_SKEW_S

WAIT = 10.0  # generous upper bound for conditions

Response = tuple[int, dict[str, str], object]


def accept_all(records: list[dict]) -> Response:
    return 200, {}, {
        "accepted": len(records),
        "rejected": 0,
        "results": [{"index": i, "status": "accepted"} for i in range(len(records))],
    }


def contract_errors(r: dict) -> list[dict]:
    """A small version of ingest's validation, enough to catch invalid generator output."""
    errors = []
    candle = {"stock_symbol", "opening_price", "closing_price", "high", "low", "volume", "timestamp"}
    if "data_type" not in r:
        if set(r) != candle:
            return [{"field": "", "message": f"fields {sorted(r)}"}]
        o, c, h, lo = r["opening_price"], r["closing_price"], r["high"], r["low"]
        if not all(isinstance(x, float) and math.isfinite(x) and x > 0 for x in (o, c, h, lo)):
            errors.append({"field": "price", "message": "non-positive or non-finite"})
        elif h < max(o, c) or lo > min(o, c):
            errors.append({"field": "high", "message": "inconsistent candle"})
        if not isinstance(r["volume"], int) or r["volume"] < 0:
            errors.append({"field": "volume", "message": "bad volume"})
    if not (isinstance(r.get("timestamp"), float) and r["timestamp"] <= time.time() + DEFAULT_MAX_FUTURE_SKEW_S):
        errors.append({"field": "timestamp", "message": "bad timestamp"})
    return errors


def validate(records: list[dict]) -> Response:
    results, accepted = [], 0
    for i, r in enumerate(records):
        errs = contract_errors(r)
        if errs:
            results.append({"index": i, "status": "rejected", "errors": errs})
        else:
            accepted += 1
            results.append({"index": i, "status": "accepted"})
    body = {"accepted": accepted, "rejected": len(records) - accepted, "results": results}
    return (200 if accepted else 422), {}, body


class FakeIngest:
    """POST /ingest on 127.0.0.1; answers from `script` (one entry per request) then `default`."""

    def __init__(
        self,
        script: list[Response | Callable[[list[dict]], Response]] | None = None,
        default: Callable[[list[dict]], Response] = accept_all,
        port: int = 0,
    ) -> None:
        self.script = deque(script or [])
        self.default = default
        self.requests: list[dict] = []  # {"t", "headers", "records", "status"}
        self.accepted: list[dict] = []  # records of 2xx answers, in arrival order (minus rejected)
        self.cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers + body writes meet delayed ACKs (40 ms)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                records = json.loads(body)
                with fake.cond:
                    answer = fake.script.popleft() if fake.script else fake.default
                status, headers, payload = answer(records) if callable(answer) else answer
                if self.path != "/ingest":
                    status, headers, payload = 404, {}, {"detail": "not found"}
                out = json.dumps(payload).encode() if payload is not None else b""
                with fake.cond:
                    fake.requests.append({"t": time.monotonic(), "wall": time.time(), "headers": dict(self.headers),
                                          "records": records, "status": status})
                    if 200 <= status < 300:
                        rejected = {r["index"] for r in payload.get("results", []) if r["status"] == "rejected"}
                        fake.accepted.extend(r for i, r in enumerate(records) if i not in rejected)
                    fake.cond.notify_all()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> FakeIngest:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)
