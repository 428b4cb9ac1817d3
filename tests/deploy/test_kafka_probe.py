"""The Kafka StatefulSet's readiness and startup probes, run against a real broker.

The manifests run apache/kafka 4.x; the local broker is Kafka 2.3, whose distribution ships the
same `kafka-broker-api-versions.sh`. The probe command is taken from the rendered manifest, with
the image's install path and the pod's own listener replaced by the local ones. It must succeed
on a broker that serves, and fail on a port that accepts connections but answers nothing (what a
TCP probe would call ready) and on a closed port.
"""
from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from deploy_model import cluster, containers
from support import ROOT, free_port

from services.config import Settings

KAFKA_HOME = Path(os.environ.get("TICKFLOW_LOCAL_DIR", ROOT / ".local")) / "kafka" / "dist" / "kafka_2.12-2.3.0"


def probe(kind: str) -> tuple[str, int]:
    (ct,) = containers(cluster("local").get("StatefulSet", "kafka"))
    spec = ct[kind]
    command = spec["exec"]["command"]
    assert command[:2] == ["sh", "-c"]
    return command[2], spec["timeoutSeconds"]


def run_probe(script: str, timeout: int, bootstrap: str) -> int | None:
    """The probe's exit code against `bootstrap`, None when the kubelet would have timed it out."""
    local = script.replace("/opt/kafka/bin/", f"{KAFKA_HOME}/bin/").replace("localhost:9092", bootstrap)
    try:
        return subprocess.run(["sh", "-c", local], timeout=timeout, capture_output=True).returncode
    except subprocess.TimeoutExpired:
        return None


@pytest.fixture(scope="module")
def silent_port() -> int:
    """A port that accepts connections and never answers: a broker that is up but does not serve."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for s in held:
        s.close()


def test_the_probe_passes_only_on_a_broker_that_serves(base_settings: Settings, silent_port: int) -> None:
    assert (KAFKA_HOME / "bin" / "kafka-broker-api-versions.sh").exists(), "make services installs Kafka"
    script, timeout = probe("readinessProbe")
    assert probe("startupProbe")[0] == script, "start-up waits for the same thing"
    assert run_probe(script, timeout, base_settings.kafka_bootstrap) == 0
    assert run_probe(script, timeout, f"127.0.0.1:{silent_port}") not in (0,), "a silent open port is not ready"
    assert run_probe(script, timeout, f"127.0.0.1:{free_port()}") not in (0,), "a closed port is not ready"
