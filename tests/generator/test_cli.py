"""The generator's command line (services/generator/__main__.py) as a subprocess against a fake ingest."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest
from fake_ingest import WAIT, FakeIngest, validate
from generator_data import START, make_plan, per_symbol
from support import ROOT, free_port, wait_until

from services.config import Settings
from services.core.simulation import MarketSimulator, is_candle
from services.generator.__main__ import ingest_token
from services.generator.runner import Runner


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TICKFLOW_")}
    env.update(extra)
    return env


def test_ingest_token_comes_from_settings_and_stays_out_of_reprs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKFLOW_INGEST_TOKEN", "s3cret")
    settings = Settings()
    assert ingest_token(settings) == "s3cret"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.ingest_token)
    runner = Runner(plan=make_plan(), ingest_url="http://127.0.0.1:9", token=ingest_token(settings))
    assert "s3cret" not in repr(runner)
    monkeypatch.setenv("TICKFLOW_INGEST_TOKEN", "")  # set but empty: no Authorization header
    assert ingest_token(Settings()) is None
    monkeypatch.delenv("TICKFLOW_INGEST_TOKEN")
    assert ingest_token(Settings()) is None


def test_cli_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "services.generator", "--help"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for flag in ("--rate", "--symbols", "--workers", "--seed", "--start", "--interval", "--batch",
                 "--count", "--ingest-url", "--port", "--no-server", "--max-retries"):
        assert flag in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "services.generator", "--rate", "0"], cwd=ROOT, env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "max" in bad.stderr


def test_cli_finite_run_end_to_end() -> None:
    with FakeIngest(default=validate) as ingest:
        proc = subprocess.run(
            [sys.executable, "-m", "services.generator", "--rate", "max", "--count", "40", "--symbols",
             "AAPL,MSFT", "--seed", "3", "--start", str(START), "--interval", "1", "--batch", "9",
             "--ingest-url", ingest.url, "--no-server", "--workers", "2"],
            cwd=ROOT, env=_env(TICKFLOW_INGEST_TOKEN="tok", TICKFLOW_LOG_FORMAT="json"),
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])["summary"]
    expected = [r for t in MarketSimulator(["AAPL", "MSFT"], 3, START, 1.0).stream(40) for r in t]
    assert summary["candles"] == 40 and summary["accepted"] == len(expected)
    assert per_symbol(ingest.accepted) == per_symbol(expected)
    assert all(r["headers"]["Authorization"] == "Bearer tok" for r in ingest.requests)
    assert "tok" not in proc.stderr  # the token is never logged
    logs = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "generator summary" and entry["accepted"] == len(expected) for entry in logs)


def test_cli_sigterm_flushes_and_exits_0() -> None:
    port = free_port()
    with FakeIngest() as ingest:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.generator", "--rate", "200", "--ingest-url", ingest.url,
             "--port", str(port), "--batch", "1000"],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert ingest.wait_for(lambda: len(ingest.accepted) >= 20)
            wait_until(lambda: _get(f"http://127.0.0.1:{port}/readyz") == 200, timeout=WAIT, what="the generator ready")
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])["summary"]
    assert summary["interrupted"] is True
    assert summary["sent"] == summary["accepted"] == len(ingest.accepted) > 0
    assert summary["candles"] == sum(1 for r in ingest.accepted if is_candle(r))


def _get(url: str) -> int:
    try:
        return httpx.get(url, timeout=1.0).status_code
    except Exception:  # noqa: BLE001 - not listening yet
        return 0
