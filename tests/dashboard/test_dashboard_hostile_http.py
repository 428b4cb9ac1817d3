"""Hostile clients on a real dashboard process (real PostgreSQL): what one client may hold is bounded.

What an independent probe found: 400 WebSocket clients connecting at once were all admitted past a
cap of 200; a tampered signals cursor with a NUL in it was a 500 with a traceback; a client that
stopped reading was not dropped by the send timeout (its sends kept completing into socket buffers);
/ws with a URL of 8 KB or more got no answer at all; unfinished request headers were never timed out.
One dashboard serves the whole module, with small limits so each test takes seconds.
"""
from __future__ import annotations

import base64
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Iterator

import httpx
import orjson
import pytest
from dashboard_data import DASHBOARD_TABLES, candles, insert_rows, stream_rows
from sqlalchemy import Engine, text
from support import ServiceProcess, free_port, open_unfinished_requests, read_until_closed, scrape_metrics, wait_until
from test_dashboard_ws_limits import silent_client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from services.config import Settings

MAX_CLIENTS = 5
SEND_TIMEOUT_S = 2.0
BUFFER_BYTES = 65_536
HEADER_TIMEOUT_S = 1.5
MAX_URL_BYTES = 8192


class Dashboard:
    def __init__(self, proc: ServiceProcess, port: int) -> None:
        self.proc = proc
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}/ws"

    def metric(self, key: str) -> float:
        return scrape_metrics(f"{self.base}/metrics")[key]

    def log_lines(self) -> list[str]:
        return self.proc.log_path.read_text(errors="replace").splitlines()


@pytest.fixture(scope="module")
def dash(base_settings: Settings, owner_db: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with owner_db.begin() as conn:
        conn.execute(text(f"TRUNCATE bars, signals, {', '.join(DASHBOARD_TABLES)}"))
    port = free_port()
    env = {**os.environ, "TICKFLOW_LOG_FORMAT": "json", "TICKFLOW_DASHBOARD_WS_MAX_CLIENTS": str(MAX_CLIENTS),
           "TICKFLOW_DASHBOARD_WS_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S),
           "TICKFLOW_DASHBOARD_WS_BUFFER_BYTES": str(BUFFER_BYTES),
           "TICKFLOW_HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S), "TICKFLOW_HTTP_MAX_URL_BYTES": str(MAX_URL_BYTES)}
    proc = ServiceProcess("dashboard", ["--port", str(port)], env, tmp_path_factory.mktemp("dashboard")).outlive_test()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/readyz")
        yield Dashboard(proc, port)
    finally:
        assert proc.stop() == 0, proc.log_tail()
    assert "Traceback" not in proc.log_path.read_text(errors="replace"), proc.log_tail(60)


def test_clients_connecting_all_at_once_are_capped(dash: Dashboard) -> None:
    """30 connects at once with a cap of 5: exactly 5 served, 25 closed with 1013, the gauge never above 5."""
    full_before = dash.metric('tickflow_dashboard_ws_refused_total{reason="full"}')
    gauge_seen: list[float] = []
    watching = threading.Event()

    def watch_gauge() -> None:
        while not watching.is_set():
            gauge_seen.append(dash.metric("tickflow_dashboard_ws_clients"))

    def attempt() -> tuple[ExitStack | None, int | None]:
        """(the open client, None) if admitted (it stays connected until the end), else (None, close code)."""
        stack = ExitStack()
        client = stack.enter_context(connect(dash.ws, open_timeout=20))
        try:
            assert '"hello"' in client.recv(timeout=20)
            return stack, None
        except ConnectionClosed as closed:
            stack.close()
            return None, closed.rcvd.code if closed.rcvd else None

    watcher = threading.Thread(target=watch_gauge, daemon=True)
    watcher.start()
    start = threading.Barrier(30)

    def at_once(_: int) -> tuple[ExitStack | None, int | None]:
        start.wait()
        return attempt()

    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(at_once, range(30)))
    admitted = [client for client, _ in outcomes if client is not None]
    try:
        assert len(admitted) == MAX_CLIENTS
        assert [code for client, code in outcomes if client is None] == [1013] * (30 - MAX_CLIENTS)
        assert dash.metric("tickflow_dashboard_ws_clients") == MAX_CLIENTS
        assert dash.metric('tickflow_dashboard_ws_refused_total{reason="full"}') - full_before == 30 - MAX_CLIENTS
    finally:
        watching.set()
        watcher.join(10)
        for client in admitted:
            client.close()
    assert max(gauge_seen) <= MAX_CLIENTS, gauge_seen
    wait_until(lambda: dash.metric("tickflow_dashboard_ws_clients") == 0, timeout=10, what="every client gone")


def forged_cursor(kind: str, *key: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([kind, "asc", *key])).decode().rstrip("=")


@pytest.mark.parametrize("url, reason", [
    ("/api/signals?cursor=" + forged_cursor("signals:raw", "2024-01-01T00:00:00+00:00", "AA\x00PL", "rsi"), "symbol"),
    ("/api/signals?cursor=" + forged_cursor("signals:raw", "2024-01-01T00:00:00+00:00", "AAPL", "rs\x00i"), "rule"),
    ("/api/signals?cursor=" + forged_cursor("signals:raw", "2024-01-01T00:00:00+00:00", "aapl; --", "rsi"), "symbol"),
    ("/api/signals?cursor=" + forged_cursor("signals:raw", "2024-01-01T00:00:00+00:00", "AAPL", "volume"), "rule"),
    ("/api/signals?cursor=" + forged_cursor("signals:1m", "2024-01-01T00:00:00\x00", "AAPL", "rsi")
     + "&timeframe=1m", "time"),
    ("/api/bars?symbol=AAPL&cursor=" + forged_cursor("bars:raw", "\u0662\u0660\u0662\u0664-01-01"), "time"),
])
def test_a_cursor_with_a_tampered_field_is_a_422_naming_the_cursor(dash: Dashboard, url: str, reason: str) -> None:
    lines_before = len(dash.log_lines())
    response = httpx.get(dash.base + url, timeout=10)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "cursor"] and f"its {reason} is not" in error["msg"]
    assert not [line for line in dash.log_lines()[lines_before:] if "Traceback" in line or '"error"' in line]


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(dash: Dashboard,
                                                                        base_settings: Settings) -> None:
    """A client that never reads holds at most BUFFER_BYTES (+ the message being sent) and is dropped
    about SEND_TIMEOUT_S after its buffers filled; a reading client beside it gets every event."""
    bars = stream_rows(candles(("AAPL", "MSFT"), 3000, seed=43, start=1_710_000_000.0))[0]
    slow_before = dash.metric('tickflow_dashboard_ws_refused_total{reason="slow"}')
    lines_before = len(dash.log_lines())
    received = {"bars": 0, "largest_message": 0}

    def read_all(client) -> None:
        while received["bars"] < len(bars):
            message = client.recv(timeout=30)
            received["largest_message"] = max(received["largest_message"], len(message))
            received["bars"] += sum(e["type"] == "bar" for e in orjson.loads(message).get("events", ()))

    silent = silent_client(dash.base)
    try:
        with connect(dash.ws) as reader:
            assert '"hello"' in reader.recv(timeout=10)
            wait_until(lambda: dash.metric("tickflow_dashboard_ws_clients") == 2, timeout=10, what="both clients in")
            reading = threading.Thread(target=read_all, args=(reader,), daemon=True)
            reading.start()
            committed = [insert_rows(base_settings.database_url, bars[i:i + 500], []) for i in range(0, len(bars), 500)]
            wait_until(lambda: dash.metric('tickflow_dashboard_ws_refused_total{reason="slow"}') == slow_before + 1,
                       timeout=SEND_TIMEOUT_S + 15, interval=0.05, what="the silent client dropped")
            dropped_after = time.time() - committed[0]
            reading.join(30)
            assert received["bars"] == len(bars), "the reading client got every bar"
        # The server reset the connection: nothing more is held for it.
        ((_, closed_after),) = read_until_closed([silent], timeout=10)
        assert closed_after is not None
    finally:
        silent.close()
    (drop,) = [orjson.loads(line) for line in dash.log_lines()[lines_before:] if "stopped reading" in line]
    print(f"\nsilent client dropped {dropped_after:.2f} s after the first events were committed, holding "
          f"{drop['unsent_bytes']} unsent bytes (bound {BUFFER_BYTES} + largest message {received['largest_message']})")
    assert dropped_after < SEND_TIMEOUT_S + 5
    assert 0 < drop["unsent_bytes"] <= BUFFER_BYTES + received["largest_message"]
    wait_until(lambda: dash.metric("tickflow_dashboard_ws_clients") == 0, timeout=10, what="no clients left")


def raw_exchange(port: int, request: bytes, timeout: float = 10.0) -> tuple[bytes, float | None]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request)
    ((answer, closed_after),) = read_until_closed([sock], timeout)
    return answer, closed_after


@pytest.mark.parametrize("target", ["/ws", "/api/symbols"])
def test_a_url_over_the_limit_is_answered_with_414_and_closed(dash: Dashboard, target: str) -> None:
    upgrade = (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n") if target == "/ws" else b""

    def request(url_bytes: int) -> bytes:
        url = target.encode() + b"?x=" + b"a" * (url_bytes - len(target) - 3)
        return b"GET " + url + b" HTTP/1.1\r\nHost: x\r\n" + upgrade + b"\r\n"

    answer, closed_after = raw_exchange(dash.port, request(MAX_URL_BYTES + 1))
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:200]
    assert answer.endswith(f"longer than {MAX_URL_BYTES} bytes".encode())
    assert closed_after is not None and closed_after < 5
    answer, _ = raw_exchange(dash.port, request(8000), timeout=3)  # below the limit: read as usual
    expected = b"HTTP/1.1 101 " if target == "/ws" else b"HTTP/1.1 422 "  # (then refused: unknown parameter x)
    assert answer.startswith(expected), answer[:200]


def test_unfinished_request_headers_are_answered_408_and_closed(dash: Dashboard) -> None:
    partial = open_unfinished_requests(dash.port, 20, b"GET /api/symbols HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    silent = open_unfinished_requests(dash.port, 1, b"")  # connects, sends nothing
    assert httpx.get(f"{dash.base}/api/timeframes", timeout=10).status_code == 200  # others are served meanwhile
    results = read_until_closed(partial + silent, timeout=HEADER_TIMEOUT_S + 10)
    closed_after = sorted(after for _, after in results if after is not None)
    assert len(closed_after) == len(results), f"{len(results) - len(closed_after)} still open"
    print(f"\nunfinished requests closed after {closed_after[0]:.2f}-{closed_after[-1]:.2f} s "
          f"(header timeout {HEADER_TIMEOUT_S} s)")
    assert HEADER_TIMEOUT_S - 0.5 < closed_after[0] and closed_after[-1] < HEADER_TIMEOUT_S + 5
    assert all(answer.startswith(b"HTTP/1.1 408 ") and answer.endswith(f"within {HEADER_TIMEOUT_S:g} s".encode())
               for answer, _ in results)


@pytest.mark.parametrize("url_bytes, header_bytes, status", [
    (MAX_URL_BYTES, 0, b"414"),     # within our limit, but the request line is over the websockets library's 8192
    (100, 9000, b"431"),            # a header line over the library's 8192
])
def test_a_websocket_handshake_the_library_refuses_is_answered_and_closed(dash: Dashboard, url_bytes: int,
                                                                          header_bytes: int, status: bytes) -> None:
    url = b"/ws?x=" + b"a" * (url_bytes - 6)
    request = (b"GET " + url + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.b64encode(os.urandom(16)) + b"\r\n"
               + (b"X-Big: " + b"a" * header_bytes + b"\r\n" if header_bytes else b"") + b"\r\n")
    answer, closed_after = raw_exchange(dash.port, request)
    assert answer.startswith(b"HTTP/1.1 " + status + b" "), answer[:200]
    assert closed_after is not None and closed_after < 5
