"""`python -m services.dashboard --help`: what the service is and where to look."""
from __future__ import annotations

import subprocess
import sys

from support import ROOT


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.dashboard", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_help_describes_the_service_and_where_summaries_come_from() -> None:
    done = run("--help")
    assert done.returncode == 0
    for words in ("/ws", "/api", "--port", "TICKFLOW_DASHBOARD_PORT", "services.orchestration summarize",
                  "TICKFLOW_WEBHOOK_URLS"):
        assert words in " ".join(done.stdout.split())
    bad = run("--port", "99999")
    assert bad.returncode == 2 and "--port: Input should be less than or equal to 65535" in bad.stderr
