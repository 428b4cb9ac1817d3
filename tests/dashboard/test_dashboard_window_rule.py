"""The page's copy of the window rule (static/timeframes.js) agrees with the processor's
(services/core/timeframes.py) on boundaries and awkward floats, and builds the same candle."""
from __future__ import annotations

import json
import random
import shutil
import subprocess

from support import ROOT

from services.core.timeframes import Rollup, Timeframe

SCRIPT = ROOT / "services" / "dashboard" / "static" / "timeframes.js"


def run_js(body: str) -> object:
    node = shutil.which("node")
    assert node, "node is needed to run the page's script"
    program = f"globalThis.window = globalThis;\n{SCRIPT.read_text()}\nconst TF = window.TickflowTimeframes;\n{body}"
    done = subprocess.run([node, "-e", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_window_starts_agree_with_the_processor() -> None:
    rng = random.Random(7)
    times = [1_700_000_040.0, 1_700_000_039.999999, 1_700_000_040.000001, 1_699_999_999.9999995, 0.0, 59.9999999]
    times += [rng.uniform(1.6e9, 1.9e9) for _ in range(300)] + [round(rng.uniform(1.6e9, 1.9e9), 6) for _ in range(300)]
    frames = [Timeframe.parse(t) for t in ("1s", "30s", "1m", "5m", "1h", "1d", "7d")]
    got = run_js(f"const times = {json.dumps(times)}; const secs = {json.dumps([f.seconds for f in frames])};"
                 "console.log(JSON.stringify(secs.map((s) => times.map((t) => TF.windowStart(t, s)))));")
    assert got == [[f.window_start(t) for t in times] for f in frames]


def test_the_forming_candle_grows_as_the_processor_s_does() -> None:
    rng = random.Random(3)
    bars, ts = [], 1_700_000_000.0
    for _ in range(200):
        ts += rng.choice([0.5, 3.0, 17.25, 60.0])
        price = rng.uniform(90, 110)
        bars.append({"ts": ts, "open": price, "high": price + rng.random(), "low": price - rng.random(),
                     "close": price + rng.uniform(-0.5, 0.5), "volume": rng.randint(1, 10_000)})
    rollup, want = Rollup(Timeframe.parse("1m")), []
    for b in bars:
        rollup.add(b["ts"], b["open"], b["high"], b["low"], b["close"], b["volume"])
        f = rollup.forming
        want.append([f.start, f.open, f.high, f.low, f.close, f.volume, f.bars, b["ts"]])
    got = run_js(f"let f = null; const out = []; for (const b of {json.dumps(bars)}) {{ f = TF.addBase(f, b, 60); "
                 "out.push([f.ts, f.open, f.high, f.low, f.close, f.volume, f.base_bars, f.last_ts]); }"
                 "console.log(JSON.stringify(out));")
    assert got == want


def test_times_are_utc_24h() -> None:
    got = run_js("console.log(JSON.stringify([TF.clock(1700000000.25), TF.label(1700000040, 60), "
                 "TF.label(1700000040, 60, true), TF.label(1699920000, 86400), TF.label(1700000045, 15), "
                 "TF.label(1700000000.25, null)]));")
    assert got == ["22:13:20.2", "2023-11-14 22:14", "11-14 22:14", "2023-11-14", "2023-11-14 22:14:05", "22:13:20.2"]


def test_the_time_axis_and_the_summary_window_are_utc_24h_too() -> None:
    afternoon = 1_700_062_045  # 2023-11-15T15:27:25Z: "3:27:25 PM" in an en-US browser's own labels
    got = run_js(f"console.log(JSON.stringify([0, 1, 2, 3, 4].map((type) => TF.tick({afternoon}, type)).concat("
                 f"[TF.span({afternoon - 3600 - 25}, {afternoon - 25}), TF.span(1699916400, 1700002800)])));")
    assert got == ["2023", "2023-11", "11-15", "15:27", "15:27:25", "2023-11-15 14:27 – 15:27",
                   "2023-11-13 23:00 – 2023-11-14 23:00"]
