"""The page in headless Chromium (Debian's chromium, driven by playwright-core from the page's npm
folder) while the pipeline runs: the chart gets bars and signal markers, the live list grows."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from sqlalchemy import Engine, text

from services.config import Settings
from support import ROOT, ServiceProcess, service_env, wait_until

WEB_DIR = ROOT / "services" / "dashboard" / "web"
CHROMIUM = "/usr/bin/chromium"


def test_page_shows_live_candles_markers_and_signals(dashboard: str, pipeline: str, dash_stack: Settings,
                                                     owner_db: Engine, tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    assert (WEB_DIR / "node_modules" / "playwright-core").is_dir(), "run `npm ci` in services/dashboard/web (make does)"
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"

    generator = ServiceProcess("generator", [
        "--rate", "50", "--no-server", "--ingest-url", pipeline, "--seed", "5", "--flush-ms", "100",
        "--progress", "never"], service_env(dash_stack), tmp_path)
    try:
        def signals_for_aapl() -> int:
            with owner_db.connect() as conn:
                return conn.execute(text("SELECT count(*) FROM signals WHERE symbol = 'AAPL' AND timeframe = 'raw'")).scalar_one()

        wait_until(lambda: signals_for_aapl() > 0, timeout=60, interval=0.3, what="a first AAPL signal")
        shot = tmp_path / "dashboard.png"
        done = subprocess.run([node, str(Path(__file__).with_name("browser_check.mjs")), f"{dashboard}/#AAPL",
                               str(shot), str(WEB_DIR), "45000"], capture_output=True, text=True, timeout=120,
                              env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin"})
    finally:
        generator.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    first, second = shown["first"], shown["second"]
    assert shown["errors"] == []
    assert first["symbol"] == "AAPL" and first["bars"] > 0 and first["markers"] > 0
    assert second["liveSignals"] > first["liveSignals"] and second["feedItems"] >= first["feedItems"]
    assert second["bars"] > first["bars"] and second["lastId"] > first["lastId"]
    assert first["cards"] == len(dash_stack.symbols) and second["status"].startswith("live")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    print(f"\nscreenshot: {shot}; page showed {second}")
