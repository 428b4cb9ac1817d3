"""Bounded resources on the WebSocket feed (real dashboard process, real PostgreSQL).

A client that never reads used to cost 3.6-5.5 MB each with no cap and was never closed. Now at
most TICKFLOW_DASHBOARD_WS_MAX_CLIENTS are served and a client that takes no message for
TICKFLOW_DASHBOARD_WS_SEND_TIMEOUT_S is dropped (it may resume with its last id).
"""
from __future__ import annotations

import base64
import os
import socket
import threading
from pathlib import Path
from typing import Iterator

import orjson
import pytest
from dashboard_data import candles, insert_rows, stream_rows
from support import ServiceProcess, free_port, scrape_metrics, wait_until
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from services.config import Settings

SYMBOLS = ("AAPL", "GOOGL", "AMZN", "MSFT", "TSLA")
MAX_CLIENTS = 25
SLOW_CLIENTS = 20


@pytest.fixture
def limited_dashboard(dash_db: Settings, tmp_path: Path) -> Iterator[tuple[str, ServiceProcess]]:
    port = free_port()
    env = {**os.environ, "TICKFLOW_LOG_FORMAT": "json", "TICKFLOW_DASHBOARD_WS_MAX_CLIENTS": str(MAX_CLIENTS),
           "TICKFLOW_DASHBOARD_WS_SEND_TIMEOUT_S": "2"}
    proc = ServiceProcess("dashboard", ["--port", str(port)], env, tmp_path)
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/readyz")
        yield f"http://127.0.0.1:{port}", proc
    finally:
        assert proc.stop() == 0, proc.log_tail()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def silent_client(base: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = base.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)  # only the handshake's own bytes
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


def metric(base: str, key: str) -> float:
    return scrape_metrics(f"{base}/metrics")[key]


def test_clients_beyond_the_cap_are_told_to_retry(limited_dashboard: tuple[str, ServiceProcess]) -> None:
    base, _ = limited_dashboard
    url = base.replace("http://", "ws://") + "/ws"
    clients = [connect(url) for _ in range(MAX_CLIENTS)]
    try:
        for c in clients:
            assert '"hello"' in c.recv(timeout=10)
        wait_until(lambda: metric(base, "tickflow_dashboard_ws_clients") == MAX_CLIENTS, timeout=10,
                   what="every client registered")
        with connect(url) as extra, pytest.raises(ConnectionClosed) as closed:
            extra.recv(timeout=10)
        assert closed.value.rcvd.code == 1013 and "retry later" in closed.value.rcvd.reason
        assert metric(base, 'tickflow_dashboard_ws_refused_total{reason="full"}') == 1
    finally:
        for c in clients:
            c.close()


def test_clients_that_stop_reading_are_dropped_and_memory_stays_bounded(
    limited_dashboard: tuple[str, ServiceProcess], dash_db: Settings
) -> None:
    base, proc = limited_dashboard
    bars = stream_rows(candles(SYMBOLS, 30_500, seed=41, start=1_700_000_000.0))[0]
    insert_rows(dash_db.database_url, bars[:500], [])  # warm up: imports, pools, first events
    before = rss_mb(proc.proc.pid)
    samples = [before]

    def publish(rows: list[tuple]) -> None:
        for start in range(0, len(rows), 2_000):
            insert_rows(dash_db.database_url, rows[start:start + 2_000], [])
            samples.append(rss_mb(proc.proc.pid))

    def all_dropped() -> bool:
        samples.append(rss_mb(proc.proc.pid))
        return metric(base, 'tickflow_dashboard_ws_refused_total{reason="slow"}') == SLOW_CLIENTS

    received = {"bars": 0}

    warm_up_until = bars[499][1]

    def read_all(client) -> None:  # a healthy client beside them, reading as fast as it can
        while received["bars"] < len(bars) - 500:
            message = orjson.loads(client.recv(timeout=60))
            received["bars"] += sum(1 for e in message.get("events", ()) if e["ts"] > warm_up_until)

    silent = [silent_client(base) for _ in range(SLOW_CLIENTS)]
    try:
        with connect(base.replace("http://", "ws://") + "/ws") as reader:
            assert '"hello"' in reader.recv(timeout=10)
            reading = threading.Thread(target=read_all, args=(reader,), daemon=True)
            reading.start()
            publish(bars[500:15_500])
            wait_until(all_dropped, timeout=60, what=f"all {SLOW_CLIENTS} silent clients dropped")
            wait_until(lambda: metric(base, "tickflow_dashboard_ws_clients") == 1, timeout=10,
                       what="only the reading client left")
            with_silent = max(samples)
            publish(bars[15_500:])  # once they are gone, more traffic costs nothing more
            reading.join(timeout=60)
            after = max(samples)
            assert received["bars"] == len(bars) - 500, "the reading client got every event"
        wait_until(lambda: metric(base, "tickflow_dashboard_ws_clients") == 0, timeout=10, what="no clients left")
    finally:
        for s in silent:
            s.close()
    print(f"dashboard RSS {before:.0f} MB; {with_silent:.0f} MB with {SLOW_CLIENTS} silent clients until dropped "
          f"({(with_silent - before) / SLOW_CLIENTS:.2f} MB each, shared queued events included); "
          f"{after:.0f} MB after 15,000 more bars")
    assert with_silent - before < 2.0 * SLOW_CLIENTS, "a silent client costs at most its bounded queue and buffers"
    assert after - with_silent < 8, "dropped clients hold nothing"
