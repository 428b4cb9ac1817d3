"""`airflow standalone` for the tests that need the real Airflow (its scheduler, API server and UI): start it
on free ports with the project's DAGs, log in, drive it through /api/v2, stop every process it started."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
from support import ROOT, free_port, wait_until

from services.config import Settings

BIN = Path(sys.executable).parent


class Airflow:
    def __init__(self, url: str, token: str, log: Path, password: str) -> None:
        self.url, self.log, self.password = url, log, password
        self.http = httpx.Client(base_url=f"{url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 150) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        return wait_until(finished, timeout=timeout, interval=1.0, what=f"{dag_id} run {run_id} to finish")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""): ti["state"] for ti in tis}

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    """Any process of the group left, zombies aside."""
    out = subprocess.run(["ps", "-e", "-o", "pgid=,stat="], capture_output=True, text=True, check=True).stdout
    return any(int(g) == pgid and not stat.startswith("Z") for g, stat in (line.split() for line in out.splitlines()))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT to standalone first (it stops its parts, which stop their workers), then the group for whatever is
    left: SIGINT, then SIGKILL. A SIGINT to the whole group at once leaves LocalExecutor workers behind."""
    steps = ((lambda: proc.send_signal(signal.SIGINT), 45), (lambda: os.killpg(proc.pid, signal.SIGINT), 15),
             (lambda: os.killpg(proc.pid, signal.SIGKILL), 10))
    for send, grace in steps:
        if not _group_alive(proc.pid):
            break
        try:
            send()
        except ProcessLookupError:
            pass
        try:
            wait_until(lambda: not _group_alive(proc.pid), timeout=grace, interval=0.3, what="airflow to exit")
        except AssertionError:
            continue
    proc.wait(10)
    assert not _group_alive(proc.pid)


def _heeding_sigint() -> None:
    """In the child before exec: SIGINT back to its default. A test run started with SIGINT ignored (a
    background job of a script, nohup) passes that on, and standalone then heard only the SIGKILL, a
    minute later (_stop)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def standalone(base_settings: Settings, log: Path) -> Iterator[Airflow]:
    """`airflow standalone` with the project's DAGs on a free port (the metadata database must be migrated),
    logged in through the REST API as admin; stopped, with every process it started, on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # standalone starts its parts as `airflow ...`
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # the log servers of the scheduler and triggerer default to fixed ports (8793, 8794)
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW_CONN_TICKFLOW_DB": base_settings.database_url,
        # task processes import `services` from this checkout, not from wherever the editable install points
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        # only the runs this test asks for: unpausing must not add a scheduled run of the latest interval
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_heeding_sigint)
    try:
        def healthy() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"airflow standalone exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                health = httpx.get(f"{url}/api/v2/monitor/health", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                return False
            return all(health.get(part, {}).get("status") == "healthy"
                       for part in ("metadatabase", "scheduler", "dag_processor", "triggerer"))

        wait_until(healthy, timeout=240, interval=0.5, what=f"airflow standalone at {url} to be healthy")
        passwords = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
        password = json.loads(passwords.read_text())["admin"]
        login = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": password}, timeout=10)
        assert login.status_code == 201, login.text
        yield Airflow(url, login.json()["access_token"], log, password)
    finally:
        _stop(proc)
