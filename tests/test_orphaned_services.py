"""A killed test run's services are stopped by the next run on the same test database, and only those."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import stop_orphaned_services, wait_until

SLEEPER = "import time; time.sleep(120)  # stands in for python -m services.ingest"


def orphan(database_url: str, tmp_path: Path) -> int:
    """A process whose parent has exited (as pytest's children are after pytest is killed)."""
    pid_file = tmp_path / f"pid-{len(list(tmp_path.iterdir()))}"
    env = {**os.environ, "PYTEST_VERSION": "9", "TICKFLOW_DATABASE_URL": database_url}
    subprocess.run(["setsid", "sh", "-c", f'"{sys.executable}" -c "{SLEEPER}" & echo $! > {pid_file}'], env=env,
                   check=True, timeout=10)
    pid = int(pid_file.read_text())
    wait_until(lambda: Path(f"/proc/{pid}/cmdline").read_text().count("services.") == 1, timeout=10, interval=0.05,
               what="the orphan to start")
    return pid


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_only_orphans_of_the_same_test_database_are_stopped(tmp_path: Path) -> None:
    ours = orphan("postgresql://u@127.0.0.1:1/tickflow_test_orphans", tmp_path)
    theirs = orphan("postgresql://u@127.0.0.1:1/tickflow_test_someone_else", tmp_path)
    try:
        assert stop_orphaned_services("postgresql://u@127.0.0.1:1/tickflow_test_orphans") == [ours]
        wait_until(lambda: not alive(ours), timeout=10, interval=0.05, what="the orphan to be stopped")
        assert alive(theirs)
    finally:
        for pid in (ours, theirs):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
