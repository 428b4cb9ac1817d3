"""scripts/local-services.sh says which service did not come up, how long it waited, and why.

The server binaries are stand-ins here (a PostgreSQL that never becomes ready cannot be produced
on demand); the script itself runs for real, with its own state directory and port.
"""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
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


@pytest.fixture(scope="module")
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


@dataclass
class Start:
    done: subprocess.CompletedProcess[str]
    state: Path


@pytest.fixture(scope="module")
def failed_start(fake_pg_bindir: Path) -> Start:
    """One `start postgres` whose server never comes up, in a state directory where an older start
    left a Kafka log readable by everyone."""
    state = fake_pg_bindir.parent / "state"
    (state / "logs").mkdir(parents=True)
    (state / "logs" / "kafka.log").write_text("[2026-01-01] INFO KafkaConfig values: ...\n")
    (state / "logs" / "kafka.log").chmod(0o644)
    env = {**os.environ, "TICKFLOW_LOCAL_DIR": str(state),
           "TICKFLOW_PG_BINDIR": str(fake_pg_bindir), "TICKFLOW_PG_PORT": str(free_port()),
           "TICKFLOW_READY_TIMEOUT": "7"}
    done = subprocess.run([str(SCRIPT), "start", "postgres"], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    return Start(done, state)


def test_a_server_that_does_not_start_is_named_with_its_wait_and_log(failed_start: Start) -> None:
    done = failed_start.done
    assert done.returncode == 1
    assert "error: postgres: server did not start or become ready within 7s" in done.stderr
    assert "could not map anonymous shared memory" in done.stderr  # the last lines of its log


def test_the_logs_are_readable_by_their_owner_only(failed_start: Start) -> None:
    # postgres.log records every role's failed statements; it was 0644 (created by `touch` as root).
    logs = {"pg/log/postgres.log": failed_start.state / "pg" / "log" / "postgres.log",
            "logs/kafka.log": failed_start.state / "logs" / "kafka.log"}
    assert "could not map" in logs["pg/log/postgres.log"].read_text()  # the file the server wrote to
    assert {name: oct(stat.S_IMODE(path.stat().st_mode)) for name, path in logs.items()} == {
        "pg/log/postgres.log": "0o600", "logs/kafka.log": "0o600"}
    assert oct(stat.S_IMODE((failed_start.state / "pg" / "log").stat().st_mode)) == "0o700"


def test_the_default_start_up_wait_allows_for_a_busy_machine() -> None:
    usage = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert usage.returncode == 0
    assert "TICKFLOW_READY_TIMEOUT        180" in usage.stdout
