"""Benchmark results: one Measurement per figure, rendered as JSON and a markdown table."""
from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Measurement:
    group: str            # "engine", "processor", "ingest", "latency", "batch", "evaluation", "forecast"
    name: str             # what was measured, e.g. "tickflow IndicatorEngine + signals"
    value: float
    unit: str             # "bars/s", "µs/bar", "ms", "records/s", "MB"
    note: str = ""        # how, or the baseline it is compared with
    ratio: float | None = None      # value relative to `ratio_to` (higher = better for rates)
    ratio_to: str = ""


@dataclass(slots=True)
class Report:
    measurements: list[Measurement] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    def add(self, m: Measurement) -> Measurement:
        self.measurements.append(m)
        print(f"  {m.group:<10} {m.name:<48} {m.value:>14,.2f} {m.unit}"
              + (f"   ({m.ratio:.2f}x {m.ratio_to})" if m.ratio is not None else ""), flush=True)
        return m

    def markdown(self) -> str:
        lines = ["| group | measurement | value | unit | ratio | note |", "|---|---|---:|---|---|---|"]
        for m in self.measurements:
            ratio = f"{m.ratio:.2f}× {m.ratio_to}" if m.ratio is not None else ""
            lines.append(f"| {m.group} | {m.name} | {m.value:,.2f} | {m.unit} | {ratio} | {m.note} |")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: Path) -> tuple[Path, Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        meta = {"started_at": self.started_at, "finished_at": time.time(), "python": platform.python_version(),
                "machine": platform.machine(), "cpus": __import__("os").cpu_count()}
        js = out_dir / "results.json"
        js.write_text(json.dumps({"meta": meta, "measurements": [asdict(m) for m in self.measurements]}, indent=2))
        md = out_dir / "results.md"
        md.write_text(self.markdown())
        return js, md
