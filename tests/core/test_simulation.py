"""The market simulation: determinism, GBM dynamics, record validity, natural keys, partitioning."""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from services.core.simulation import (
    ECONOMIC_SERIES,
    PROFILES,
    TRADING_YEAR_SECONDS,
    MarketSimulator,
    RecordMix,
    SymbolProfile,
    default_profile,
    is_candle,
    market_years,
    partition,
)

SYMBOLS = ["AAPL", "GOOGL", "AMZN", "MSFT", "TSLA"]
START = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]

CANDLE_FIELDS = {"stock_symbol", "opening_price", "closing_price", "high", "low", "volume", "timestamp"}
FIELDS = {
    "order_book": {"data_type", "timestamp", "stock_symbol", "order_type", "price", "quantity"},
    "news_sentiment": {"data_type", "timestamp", "stock_symbol", "sentiment_score", "sentiment_magnitude"},
    "market_data": {"data_type", "timestamp", "stock_symbol", "market_cap", "pe_ratio"},
    "economic_indicator": {"data_type", "timestamp", "indicator_name", "value"},
}


def _is_number(x: object) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_record(r: dict, current_price: dict[str, float]) -> str:
    """Assert `r` satisfies the public contract; returns its type."""
    if is_candle(r):
        assert set(r) == CANDLE_FIELDS, r
        assert isinstance(r["stock_symbol"], str) and r["stock_symbol"]
        for f in ("opening_price", "closing_price", "high", "low", "timestamp"):
            assert _is_number(r[f]), (f, r)
        o, c, h, lo = r["opening_price"], r["closing_price"], r["high"], r["low"]
        assert min(o, c, h, lo) > 0, r
        assert h >= max(o, c) and lo <= min(o, c) and h >= lo, r
        assert _is_int(r["volume"]) and r["volume"] >= 0, r
        current_price[r["stock_symbol"]] = c
        return "candle"
    kind = r["data_type"]
    assert kind in FIELDS, r
    assert set(r) == FIELDS[kind], r
    assert _is_number(r["timestamp"]), r
    if kind == "order_book":
        assert r["order_type"] in ("buy", "sell")
        assert _is_number(r["price"]) and r["price"] > 0
        assert _is_int(r["quantity"]) and r["quantity"] > 0
        px = current_price[r["stock_symbol"]]
        if r["order_type"] == "buy":
            assert r["price"] < px, (r, px)
        else:
            assert r["price"] > px, (r, px)
    elif kind == "news_sentiment":
        assert _is_number(r["sentiment_score"]) and -1.0 <= r["sentiment_score"] <= 1.0
        assert _is_number(r["sentiment_magnitude"]) and 0.0 <= r["sentiment_magnitude"] <= 1.0
    elif kind == "market_data":
        px = current_price[r["stock_symbol"]]
        profile = default_profile(r["stock_symbol"])
        assert _is_number(r["market_cap"]) and r["market_cap"] > 0
        assert _is_number(r["pe_ratio"])
        assert r["market_cap"] == pytest.approx(px * profile.shares_outstanding, rel=1e-9)
        assert r["pe_ratio"] == pytest.approx(px / profile.eps, abs=1e-4)
    else:
        assert r["indicator_name"] in {s.name for s in ECONOMIC_SERIES}
        assert _is_number(r["value"])
    return kind


def natural_key(r: dict) -> tuple:
    if is_candle(r):
        return ("candle", r["stock_symbol"], r["timestamp"])
    if r["data_type"] == "order_book":
        return ("order_book", r["stock_symbol"], r["timestamp"], r["order_type"])
    if r["data_type"] == "economic_indicator":
        return ("economic_indicator", r["indicator_name"], r["timestamp"])
    return (r["data_type"], r["stock_symbol"], r["timestamp"])


def take(sim: MarketSimulator, n: int) -> list[list[dict]]:
    return list(sim.stream(n))


def test_same_seed_start_interval_gives_identical_stream() -> None:
    a = take(MarketSimulator(SYMBOLS, 7, START, 0.1), 1000)
    b = take(MarketSimulator(SYMBOLS, 7, START, 0.1), 1000)
    assert len(a) == 1000
    assert a == b
    # Not trivially equal: there are side records of every kind.
    kinds = Counter(r.get("data_type", "candle") for tick in a for r in tick)
    assert set(kinds) == {"candle", *FIELDS}, kinds
    assert kinds["candle"] == 1000


def test_stream_is_identical_across_processes_and_hash_seeds() -> None:
    code = (
        "import json; from services.core.simulation import MarketSimulator as M;"
        "s = M(['AAPL', 'ZZQX', 'FOO'], 3, 1.7e9, 0.25);"
        "print(json.dumps(list(s.stream(60))))"
    )
    outs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60, check=True)
        outs.append(json.loads(proc.stdout))
    local = json.loads(json.dumps(take(MarketSimulator(["AAPL", "ZZQX", "FOO"], 3, 1.7e9, 0.25), 60)))
    assert outs[0] == outs[1] == local


def test_different_seed_gives_different_stream() -> None:
    a = take(MarketSimulator(SYMBOLS, 1, START, 0.1), 200)
    b = take(MarketSimulator(SYMBOLS, 2, START, 0.1), 200)
    closes_a = [t[0]["closing_price"] for t in a]
    closes_b = [t[0]["closing_price"] for t in b]
    # Same start levels, but the paths diverge from the first candle on.
    assert a[0][0]["opening_price"] == b[0][0]["opening_price"] == PROFILES["AAPL"].price
    assert sum(x != y for x, y in zip(closes_a, closes_b)) >= 195


def test_start_shapes_timestamps_only_and_interval_the_size_of_moves() -> None:
    a = take(MarketSimulator(SYMBOLS, 5, START, 2.0), 50)
    b = take(MarketSimulator(SYMBOLS, 5, START + 1000, 2.0), 50)
    def strip(ticks: list[list[dict]]) -> list[list[dict]]:
        return [[{k: v for k, v in r.items() if k != "timestamp"} for r in t] for t in ticks]

    assert strip(a) == strip(b)
    # The time rule: candles 200 s apart move about 10x as much as candles 2 s apart (the same draws).
    c = take(MarketSimulator(SYMBOLS, 5, START, 200.0), 50)
    move = lambda ticks: sum(abs(math.log(t[0]["closing_price"] / t[0]["opening_price"])) for t in ticks)  # noqa: E731
    assert move(c) / move(a) == pytest.approx(10.0, rel=0.05)
    assert b[0][0]["timestamp"] == START + 1000
    assert b[5][0]["timestamp"] == START + 1002.0  # second candle of AAPL


def test_gbm_carries_state_open_equals_previous_close() -> None:
    sim = MarketSimulator(SYMBOLS + ["NEWCO"], 11, START, 1.0)
    last_close: dict[str, float] = {}
    for tick in sim.stream(6 * 500):
        c = tick[0]
        sym = c["stock_symbol"]
        if sym in last_close:
            assert c["opening_price"] == last_close[sym]
        else:
            assert c["opening_price"] == round(default_profile(sym).price, 4)
        last_close[sym] = c["closing_price"]
        assert sim.price(sym) == c["closing_price"]
    assert len(last_close) == 6
    # Per-symbol start levels differ.
    assert len({default_profile(s).price for s in last_close}) == 6


def _log_returns(sim: MarketSimulator, symbol: str, n: int) -> list[float]:
    closes = [sim.tick(symbol)[0]["closing_price"] for _ in range(n)]
    prices = [sim.profile(symbol).price, *closes]
    return [math.log(b / a) for a, b in zip(prices, prices[1:])]


def test_log_returns_match_configured_drift_and_volatility() -> None:
    n = 20_000
    day = TRADING_YEAR_SECONDS / 252  # daily bars (6.5 h apart): drift is large enough to be measured
    bar_years = market_years(day)
    assert bar_years == pytest.approx(1 / 252)
    profile = SymbolProfile(price=100.0, mu=0.52, sigma=0.2, shares_outstanding=1e9, eps=5.0, volume=1000)
    sim = MarketSimulator(["DRIFT"], 99, START, day, profiles={"DRIFT": profile})
    rets = _log_returns(sim, "DRIFT", n)
    exp_mean = (profile.mu - profile.sigma**2 / 2) * bar_years
    exp_sd = profile.sigma * math.sqrt(bar_years)
    mean, sd = statistics.fmean(rets), statistics.stdev(rets)
    assert abs(mean - exp_mean) < 4 * exp_sd / math.sqrt(n), (mean, exp_mean)
    assert mean > 0.5 * exp_mean  # the drift is really there (exp_mean is ~22 standard errors)
    assert sd == pytest.approx(exp_sd, rel=0.03)


@pytest.mark.parametrize("symbol", ["AAPL", "TSLA", "QQQZ"])
def test_default_profiles_volatility_per_candle(symbol: str) -> None:
    n = 20_000
    sim = MarketSimulator([symbol], 5, START, 30.0)  # half a minute of trading per candle
    rets = _log_returns(sim, symbol, n)
    p = default_profile(symbol)
    exp_sd = p.sigma * math.sqrt(30.0 / TRADING_YEAR_SECONDS)
    assert statistics.stdev(rets) == pytest.approx(exp_sd, rel=0.03)
    assert abs(statistics.fmean(rets)) < 4 * exp_sd / math.sqrt(n) + abs(p.mu) * market_years(30.0)


def test_symbols_have_distinct_volatility() -> None:
    assert PROFILES["TSLA"].sigma > 2 * PROFILES["MSFT"].sigma
    sd = {}
    for s in ("TSLA", "MSFT"):
        sd[s] = statistics.stdev(_log_returns(MarketSimulator([s], 1, START, 1.0), s, 5000))
    assert sd["TSLA"] > 2 * sd["MSFT"]


def test_unknown_symbols_get_stable_deterministic_profiles() -> None:
    a, b, c = default_profile("ZZQX"), default_profile("ZZQX"), default_profile("ZZQY")
    assert a == b and a != c
    for p in (a, c):
        assert 10 <= p.price <= 600 and 0.15 <= p.sigma <= 0.6 and p.eps > 0 and p.volume > 0


def test_all_records_valid_and_natural_keys_unique() -> None:
    symbols = SYMBOLS + ["ZZQX"]
    sim = MarketSimulator(symbols, 123, START, 0.05)
    current: dict[str, float] = {}
    keys: set[tuple] = set()
    kinds: Counter[str] = Counter()
    last_ts: dict[str, float] = {}
    per_symbol_n: Counter[str] = Counter()
    n_ticks = 6 * 3000
    for tick in sim.stream(n_ticks):
        candle = tick[0]
        assert is_candle(candle) and all(not is_candle(r) for r in tick[1:])
        sym = candle["stock_symbol"]
        ts = candle["timestamp"]
        assert ts == round(START + per_symbol_n[sym] * 0.05, 6)
        per_symbol_n[sym] += 1
        assert ts > last_ts.get(sym, -1.0)
        last_ts[sym] = ts
        for r in tick:
            kinds[check_record(r, current)] += 1
            assert r["timestamp"] == ts  # side records carry their tick's timestamp
            if "stock_symbol" in r:
                assert r["stock_symbol"] == sym
            key = natural_key(r)
            assert key not in keys, key
            keys.add(key)
    assert kinds["candle"] == n_ticks
    # Default mix: order book on ~50% of ticks (buy + sell), news ~10% (+ shocks), market ~5%,
    # economic ~5% of rounds.
    assert kinds["order_book"] == pytest.approx(2 * 0.5 * n_ticks, rel=0.05)
    assert kinds["news_sentiment"] == pytest.approx(0.11 * n_ticks, rel=0.12)
    assert kinds["market_data"] == pytest.approx(0.05 * n_ticks, rel=0.15)
    assert kinds["economic_indicator"] == pytest.approx(0.05 * n_ticks / 6, rel=0.3)


def test_order_book_straddles_the_close() -> None:
    sim = MarketSimulator(["AAPL", "MSFT"], 8, START, 1.0, RecordMix(order_book=1.0))
    for tick in sim.stream(2000):
        candle, buy, sell = tick[0], tick[1], tick[2]
        assert (buy["order_type"], sell["order_type"]) == ("buy", "sell")
        assert buy["price"] < candle["closing_price"] < sell["price"]
        # Near the price: within 0.5%.
        assert sell["price"] / buy["price"] < 1.005


def test_record_mix_is_a_parameter() -> None:
    only_candles = MarketSimulator(SYMBOLS, 1, START, 1.0, RecordMix(0, 0, 0, 0, 0))
    assert all(len(t) == 1 for t in only_candles.stream(2000))
    full = MarketSimulator(SYMBOLS, 1, START, 1.0, RecordMix(1, 1, 1, 1, 0))
    ticks = take(full, 50)
    for i, t in enumerate(ticks):
        kinds = [r.get("data_type", "candle") for r in t]
        expected = ["candle", "order_book", "order_book", "news_sentiment", "market_data"]
        if i % len(SYMBOLS) == 0:  # the clock symbol carries the economic release
            expected.append("economic_indicator")
        assert kinds == expected
    with pytest.raises(ValueError):
        RecordMix(news=1.5)


def test_changing_the_mix_keeps_the_price_path() -> None:
    a = take(MarketSimulator(SYMBOLS, 4, START, 1.0, RecordMix()), 500)
    b = take(MarketSimulator(SYMBOLS, 4, START, 1.0, RecordMix(0.9, 0.3, 0.2, 0.5)), 500)
    assert [t[0] for t in a] == [t[0] for t in b]


def test_news_sentiment_mean_reverts_and_has_shocks() -> None:
    sim = MarketSimulator(["AAPL"], 3, START, 1.0, RecordMix(order_book=0, news=1.0, market_data=0))
    scores = [t[1]["sentiment_score"] for t in sim.stream(20_000)]
    assert abs(statistics.fmean(scores)) < 0.1
    assert max(abs(s) for s in scores) > 0.4  # shocks happened
    jumps = sum(1 for a, b in zip(scores, scores[1:]) if abs(b - a) > 0.35)
    assert 50 <= jumps <= 600  # ~1% shocks
    # After a shock it decays back (OU with 3% pull per tick): 200 ticks later much smaller.
    big = [i for i, s in enumerate(scores[:-300]) if abs(s) > 0.6]
    assert big
    assert statistics.fmean(abs(scores[i + 200]) for i in big) < 0.5 * statistics.fmean(abs(scores[i]) for i in big)


def test_economic_indicators_evolve_slowly_and_are_deterministic() -> None:
    def econ(sim: MarketSimulator) -> list[dict]:
        return [r for t in sim.stream(40_000) for r in t if r.get("data_type") == "economic_indicator"]

    a = econ(MarketSimulator(SYMBOLS, 9, START, 1.0))
    b = econ(MarketSimulator(SYMBOLS, 9, START, 1.0))
    assert a == b
    names = Counter(r["indicator_name"] for r in a)
    assert set(names) == {"CPI", "unemployment_rate", "fed_funds_rate", "GDP_growth"}
    by_name = defaultdict(list)
    for r in a:
        by_name[r["indicator_name"]].append(r["value"])
    assert all(250 < v < 400 for v in by_name["CPI"])
    assert all(2 <= v <= 15 for v in by_name["unemployment_rate"])
    assert all(0 <= v <= 10 for v in by_name["fed_funds_rate"])
    for name, values in by_name.items():
        steps = [abs(y - x) for x, y in zip(values, values[1:])]
        assert statistics.median(steps) < 0.5, name
    assert len(set(by_name["CPI"])) > 10  # it does move


def test_partitioning_over_workers_keeps_each_symbol_stream() -> None:
    symbols = SYMBOLS + ["NVDA", "ZZQX"]
    rounds = 300
    whole = MarketSimulator(symbols, 21, START, 0.2)
    expected: dict[str, list[list[dict]]] = defaultdict(list)
    for tick in whole.stream(rounds * len(symbols)):
        expected[tick[0]["stock_symbol"]].append(tick)
    for workers in (2, 3, 7):
        sims = MarketSimulator.partitioned(symbols, workers, 21, START, 0.2)
        assert [list(s.symbols) for s in sims] == partition(symbols, workers)
        assert sorted(s for sim in sims for s in sim.symbols) == sorted(symbols)
        got: dict[str, list[list[dict]]] = defaultdict(list)
        for sim in sims:
            # Each worker interleaves its own symbols; the order across workers is irrelevant.
            for tick in sim.stream(rounds * len(sim.symbols)):
                got[tick[0]["stock_symbol"]].append(tick)
        assert got == expected, workers
    assert sum(1 for t in expected["AAPL"] for r in t if r.get("data_type") == "economic_indicator") > 0


def test_partition_helper() -> None:
    assert partition(["A", "B", "C", "D", "E"], 2) == [["A", "C", "E"], ["B", "D"]]
    assert partition(["A", "B"], 5) == [["A"], ["B"]]
    with pytest.raises(ValueError):
        partition(["A"], 0)


def test_sample_does_not_disturb_the_stream() -> None:
    plain = MarketSimulator(SYMBOLS, 13, START, 1.0)
    sampled = MarketSimulator(SYMBOLS, 13, START, 1.0)
    seen: Counter[str] = Counter()
    out_a, out_b = [], []
    for tick in plain.stream(500):
        out_a.append(tick)
    it = sampled.ticks()
    for _ in range(500):
        out_b.append(next(it))
        for _ in range(3):
            r = sampled.sample(timestamp=START + 12.5)
            cur = {s: sampled.price(s) for s in SYMBOLS}
            seen[check_record(r, dict(cur))] += 1
            assert r["timestamp"] == START + 12.5
    assert out_a == out_b
    assert set(seen) == {"candle", *FIELDS}


def test_invalid_arguments_rejected() -> None:
    with pytest.raises(ValueError):
        MarketSimulator([], 1, START, 1.0)
    with pytest.raises(ValueError):
        MarketSimulator(["A", "A"], 1, START, 1.0)
    with pytest.raises(ValueError):
        MarketSimulator(["A"], 1, START, 0.0)
    with pytest.raises(ValueError):
        MarketSimulator(["A"], 1, float("nan"), 1.0)
    with pytest.raises(ValueError):
        MarketSimulator(["A"], 1, START, 1.0, clock_symbol="B")


def test_low_priced_symbol_stays_positive() -> None:
    profile = SymbolProfile(price=0.02, mu=-2.0, sigma=1.5, shares_outstanding=1e6, eps=0.01, volume=10)
    sim = MarketSimulator(["PENNY"], 2, START, 1.0, RecordMix(order_book=1.0, market_data=1.0),
                          profiles={"PENNY": profile}, speed=TRADING_YEAR_SECONDS / 252)  # a day a second
    current: dict[str, float] = {}
    # check_record uses default_profile for market data; skip it for this custom profile.
    for tick in sim.stream(3000):
        for r in tick:
            if r.get("data_type") != "market_data":
                check_record(r, current)
            else:
                assert r["market_cap"] > 0 and r["pe_ratio"] > 0


def _five_minute_ranges(candles: list[dict]) -> list[float]:
    """Each 5m window's (high - low) / open, the window's candles rolled up as the processor does."""
    windows: dict[int, list[dict]] = defaultdict(list)
    for c in candles:
        windows[int(c["timestamp"] // 300)].append(c)
    return [(max(c["high"] for c in w) - min(c["low"] for c in w)) / w[0]["opening_price"] for w in windows.values()]


def test_history_and_live_move_alike_per_unit_of_time() -> None:
    """The time rule: a day of history a candle per 10 s, then (retimed 15 s later) two hours live a
    candle per 100 ms, as `make run` does: the typical 5m range agrees before and after the switch, and
    with a Brownian motion's (about 1.6 sigma sqrt(T)). One trading minute per candle made the live 5m
    candles ten times as wide as the history's."""
    sim = MarketSimulator(["AAPL"], 11, START, 10.0)
    history = [sim.tick("AAPL")[0] for _ in range(8_640)]
    sim.retime("AAPL", history[-1]["timestamp"] + 15.0, 0.1)
    live = [sim.tick("AAPL")[0] for _ in range(72_000)]
    assert live[0]["opening_price"] == history[-1]["closing_price"]  # the same price path goes on
    whole = lambda candles: [c for c in candles if int(c["timestamp"] // 300) not in  # noqa: E731
                             {int(candles[0]["timestamp"] // 300), int(candles[-1]["timestamp"] // 300)}]
    before = statistics.median(_five_minute_ranges(whole(history)))
    after = statistics.median(_five_minute_ranges(whole(live)))
    assert 0.5 < after / before < 2, (before, after)
    brownian = 1.6 * PROFILES["AAPL"].sigma * math.sqrt(market_years(300))
    assert 0.6 < before / brownian < 1.5 and 0.6 < after / brownian < 1.5, (before, after, brownian)


def test_a_gap_moves_the_price_as_much_as_that_much_time() -> None:
    """The first candle after a retime moves by the time since the last candle, not by one interval."""
    draws = []
    for gap in (1.0, 10_000.0):
        sims = [MarketSimulator(["TSLA"], seed, START, 1.0) for seed in range(400)]
        moves = []
        for sim in sims:
            first = sim.tick("TSLA")[0]
            sim.retime("TSLA", first["timestamp"] + gap, 1.0)
            moves.append(math.log(sim.tick("TSLA")[0]["closing_price"] / first["closing_price"]))
        draws.append(statistics.pstdev(moves))
    assert draws[1] / draws[0] == pytest.approx(100.0, rel=0.15)  # sqrt(10,000 s / 1 s)
