"""scripts/local-services.sh says which service did not come up, how long it waited, and why.

The server binaries are stand-ins here (a PostgreSQL that never becomes ready cannot be produced
on demand); the script itself runs for real, with its own state directory and port.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from support import ROOT, free_port

SCRIPT = ROOT / "scripts" / "local-services.sh"

FAKE_INITDB = """#!/bin/sh
# initdb stand-in: an empty PostgreSQL 15 cluster directory
while [ $# -gt 0 ]; do case $1 in -D) data=$2; shift ;; esac; shift; done
echo 15 > "$data/PG_VERSION"; : > "$data/postgresql.conf"
"""
FAKE_PG_CTL = """#!/bin/sh
# pg_ctl stand-in: the server writes a fatal error to its log and never becomes ready
while [ $# -gt 0 ]; do case $1 in -l) log=$2; shift ;; esac; shift; done
echo "FATAL:  could not map anonymous shared memory: Cannot allocate memory" >> "$log"
exit 1
"""


@pytest.fixture
def fake_pg_bindir() -> Iterator[Path]:
    # Outside pytest's private tmp dir: the script runs the binaries as the `postgres` OS user.
    top = Path(tempfile.mkdtemp(prefix="tickflow-ls-", dir="/tmp"))
    os.chmod(top, 0o755)
    bindir = top / "bin"
    bindir.mkdir()
    for name, body in {"initdb": FAKE_INITDB, "pg_ctl": FAKE_PG_CTL, "postgres": "#!/bin/sh\n",
                       "psql": "#!/bin/sh\n"}.items():
        (bindir / name).write_text(body)
        (bindir / name).chmod(0o755)
    yield bindir
    shutil.rmtree(top, ignore_errors=True)


def test_a_server_that_does_not_start_is_named_with_its_wait_and_log(fake_pg_bindir: Path) -> None:
    env = {**os.environ, "TICKFLOW_LOCAL_DIR": str(fake_pg_bindir.parent / "state"),
           "TICKFLOW_PG_BINDIR": str(fake_pg_bindir), "TICKFLOW_PG_PORT": str(free_port()),
           "TICKFLOW_READY_TIMEOUT": "7"}
    done = subprocess.run([str(SCRIPT), "start", "postgres"], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "error: postgres: server did not start or become ready within 7s" in done.stderr
    assert "could not map anonymous shared memory" in done.stderr  # the last lines of its log


def test_the_default_start_up_wait_allows_for_a_busy_machine() -> None:
    usage = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 0
    assert "TICKFLOW_READY_TIMEOUT        180" in usage.stdout
