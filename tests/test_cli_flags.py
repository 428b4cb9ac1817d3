"""Flags made from the settings: help, defaults and validation come from the one definition."""
from __future__ import annotations

import subprocess
import sys

import pytest
from support import ROOT

from services.config import Settings


def cli(module: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


def test_every_flag_names_a_documented_setting() -> None:
    from services.dashboard.__main__ import FLAGS as DASHBOARD
    from services.feed.__main__ import FLAGS as FEED
    from services.feed.__main__ import MODE_FLAGS as FEED_MODES
    from services.generator.__main__ import FLAGS as GENERATOR
    from services.generator.__main__ import MIX_FLAGS
    from services.ingest.__main__ import FLAGS as INGEST
    from services.orchestration.__main__ import SUMMARIZE_FLAGS
    from services.processor.__main__ import FLAGS as PROCESSOR
    from services.replay.__main__ import FLAGS as REPLAY

    for table in (GENERATOR, MIX_FLAGS, INGEST, PROCESSOR, DASHBOARD, SUMMARIZE_FLAGS, REPLAY, FEED,
                  *FEED_MODES.values()):
        for flag, name in table.items():
            assert name in Settings.model_fields, flag
            assert Settings.model_fields[name].description, f"{flag} ({name}) has no description for --help"


def test_help_shows_the_environment_variable_and_its_current_value() -> None:
    out = cli("services.processor", "--help", TICKFLOW_PROCESSOR_BATCH_MAX="777").stdout
    assert "TICKFLOW_PROCESSOR_BATCH_MAX; default: 777" in " ".join(out.split())


@pytest.mark.parametrize(("module", "args", "message"), [
    ("services.processor", ["--batch-max", "0"], "--batch-max: Input should be greater than or equal to 1"),
    ("services.ingest", ["--workers", "two"], "--workers: Input should be a valid integer"),
    ("services.replay", ["x.csv", "--batch", "0"], "--batch: Input should be greater than or equal to 1"),
    ("services.feed", ["alpaca", "live", "--fetch-limit", "10001"],
     "--fetch-limit: Input should be less than or equal"),
    ("services.feed", ["alpaca", "backfill", "--start", "2024-01-02", "--timeframe", "1Week"],
     "--timeframe: String should match"),
    ("services.generator", ["--news", "1.5", "--no-server"], "--news: Input should be less than or equal to 1"),
    ("services.generator", ["--symbols", " , ", "--no-server"], "--symbols: Value error, at least one symbol"),
])
def test_a_bad_flag_is_a_usage_error_naming_the_flag(module: str, args: list[str], message: str) -> None:
    result = cli(module, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_a_bad_environment_value_is_refused_the_same_way() -> None:
    with pytest.raises(ValueError, match="generator_flush_ms"):
        Settings(generator_flush_ms=0)
    with pytest.raises(ValueError, match="sma_period must be an int >= 1"):
        Settings(sma_period=0)


def test_generator_plan_takes_knobs_from_the_environment_and_flags_over_them(monkeypatch) -> None:
    from services.cli import settings_with_flags
    from services.generator.__main__ import FLAGS, MIX_FLAGS, build_parser, make_plan

    monkeypatch.setenv("TICKFLOW_GENERATOR_FLUSH_MS", "350")
    monkeypatch.setenv("TICKFLOW_GENERATOR_NEWS", "0.25")
    settings = Settings()
    parser = build_parser(settings)
    args = parser.parse_args(["--symbols", "aapl,msft,aapl", "--economic", "0"])
    plan = make_plan(args, settings_with_flags(parser, args, settings, {**FLAGS, **MIX_FLAGS}), now=1000.0)
    assert plan.flush_interval == 0.35
    assert (plan.mix.news, plan.mix.economic) == (0.25, 0.0)
    assert plan.symbols == ("AAPL", "MSFT")
