"""Test helpers shared across the suite: waiting on conditions, free ports, service processes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

import httpx

from services.config import Settings
from services.processor.sinks import PROCESSOR_TABLES

if TYPE_CHECKING:
    import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

DATA_TABLES = PROCESSOR_TABLES  # emptied before each test that runs the pipeline
# The database tests use (made by scripts/local-services.sh), never the data of `make run`: one per
# pytest-xdist worker (parallel.py), the first worker's (or a run without workers') the plain name.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
TEST_DATABASE = os.environ.get("TICKFLOW_TEST_DATABASE", "tickflow_test") + ("" if _WORKER == "gw0" else f"_{_WORKER}")


def assert_same_indicators(got: "pd.DataFrame", want: "pd.DataFrame") -> None:
    """Indicator NULLs in the same places; values within the README's indicator tolerance, 1e-9·max(1, |v|)."""
    import numpy as np

    from services.core.indicators import INDICATOR_COLUMNS

    g = got[list(INDICATOR_COLUMNS)].to_numpy(dtype=float)
    w = want[list(INDICATOR_COLUMNS)].to_numpy(dtype=float)
    assert np.array_equal(np.isnan(g), np.isnan(w))
    ok = ~np.isnan(w)
    assert np.all(np.abs(g[ok] - w[ok]) <= 1e-9 * np.maximum(1.0, np.abs(w[ok])))


def signal_keys(signals: "pd.DataFrame") -> list[tuple]:
    return sorted(zip(signals["symbol"], signals["ts"], signals["rule"], signals["side"]))


def wait_until(check: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last value: {last!r})")
        time.sleep(interval)
        last = check()
    return last


def scrape_metrics(url: str) -> dict[str, float]:
    """A service's /metrics, parsed by prometheus_client: {'name{label="v",...}': value} (labels sorted)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url, timeout=5).text
    return {sample.name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items())) + "}"
                           if sample.labels else ""): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(stack: Settings, **settings: object) -> dict[str, str]:
    """The environment for a service subprocess on `stack` (TICKFLOW_<NAME> per extra setting)."""
    env = dict(os.environ)
    settings = {"kafka_topic_prefix": stack.kafka_topic_prefix, "processor_group": stack.processor_group,
                **settings}
    env.update({f"TICKFLOW_{k.upper()}": str(v) for k, v in settings.items()})
    if "kafka_bootstrap" in settings:  # an address of its own (a proxy, say): the port variable would refuse it
        env.pop("TICKFLOW_KAFKA_PORT", None)
    env.setdefault("TICKFLOW_LOG_FORMAT", "json")
    return env


XDIST_WORKER_COMMAND = "exec(eval(sys.stdin.readline()))"  # how execnet starts a pytest-xdist worker


def stop_orphaned_services(database_url: str) -> list[int]:
    """SIGKILL the services a killed test run left behind on this test database: orphans (their
    parent is no pytest nor pytest-xdist worker: it is gone, so init or a subreaper adopted them) started by pytest
    (PYTEST_VERSION in their environment) with the same TICKFLOW_DATABASE_URL. One such ingest kept a
    core busy for the next runs: kafka-python's metadata refresh spins once the topics it produced to
    are deleted, which the next run does to leftover test topics."""
    stopped = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = dict(v.split("=", 1) for v in (proc / "environ").read_text().split("\0") if "=" in v)
            command = (proc / "cmdline").read_text()
            parent = Path(f"/proc/{ppid}/cmdline").read_text() if ppid > 1 else ""
        except (OSError, ValueError, IndexError):
            continue  # gone, or not ours to read
        by_pytest = "pytest" in parent or XDIST_WORKER_COMMAND in parent
        if not by_pytest and "PYTEST_VERSION" in env and env.get("TICKFLOW_DATABASE_URL") == database_url \
                and "services." in command:
            pid = int(proc.name)
            try:
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)  # its workers too (ServiceProcess starts a new session)
                else:
                    os.kill(pid, signal.SIGKILL)
                stopped.append(pid)
            except OSError:
                pass
    return stopped


class ServiceProcess:
    """A `python -m services.<name>` subprocess with its output in a log file.

    Every instance is registered until stopped; the suite's autouse fixture stops leftovers, so a
    failing test never leaves services running into the next one.
    """

    running: list["ServiceProcess"] = []

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path,
                 script: Path | None = None) -> None:
        """`python -m services.<name>` from the checkout, or the installed console script `script`
        (run outside the checkout, so it imports what it was installed with)."""
        self.name = name
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        command = [str(script)] if script else [sys.executable, "-m", f"services.{name}"]
        self.proc = subprocess.Popen(
            [*command, *args], cwd=log_dir if script else ROOT, env=env,
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        ServiceProcess.running.append(self)

    def outlive_test(self) -> "ServiceProcess":
        """Leave this process out of the per-test cleanup: the module or session fixture that started it
        stops it."""
        if self in ServiceProcess.running:
            ServiceProcess.running.remove(self)
        return self

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_http(self, url: str, timeout: float = 60.0) -> None:
        def ok() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                return httpx.get(url, timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ok, timeout, 0.2, f"{self.name} at {url}")

    def stop(self, sig: int = 15, timeout: float = 15.0) -> int:
        if self in ServiceProcess.running:
            ServiceProcess.running.remove(self)
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 to `target`. Listening from the start, or from open() when
    `listening=False` (until then its port refuses connections: a server that is down). cut() drops
    every connection through it (as a network failure or a server restart would) while new ones work."""

    def __init__(self, target: tuple[str, int], listening: bool = True) -> None:
        self.target = target
        self.port = free_port()
        self.server: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        if listening:
            self.open()

    def open(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def cut(self) -> int:
        with self._lock:
            sockets, self._open = self._open, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        return len(sockets) // 2

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.cut()


def open_unfinished_requests(port: int, count: int, partial: bytes) -> list[socket.socket]:
    """`count` connections to 127.0.0.1:`port` that each send `partial` (a request not finished) and then
    nothing more."""
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if partial:
            sock.sendall(partial)
        socks.append(sock)
    return socks


def read_until_closed(socks: list[socket.socket], timeout: float) -> list[tuple[bytes, float | None]]:
    """For each socket: what the server sent, and the seconds (from now) until it closed the connection
    (None: still open after `timeout`). Closes the sockets."""
    import selectors

    started = time.monotonic()
    got: dict[socket.socket, list] = {s: [b"", None] for s in socks}
    with selectors.DefaultSelector() as selector:
        for s in socks:
            s.setblocking(False)
            selector.register(s, selectors.EVENT_READ)
        while selector.get_map() and time.monotonic() - started < timeout:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    got[sock][0] += data
                else:
                    got[sock][1] = time.monotonic() - started
                    selector.unregister(sock)
    for s in socks:
        s.close()
    return [(data, closed_after) for data, closed_after in got.values()]
