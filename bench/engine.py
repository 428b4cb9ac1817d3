"""Engine benchmark: Tickflow's streaming indicators + signals against three baselines, one run.

Every engine gets the same seeded data: a geometric random walk for each of ``SYMBOLS``
symbols, ``bars`` bars in all, interleaved round-robin as a live stream delivers them.
The first ``WARMUP`` bars of every symbol are fed before the clock starts (TA-Lib's
stream handles must be opened on history, and the naive approach needs its trailing
window filled); every engine is then timed over the same remaining bars.

* **tickflow** -- ``IndicatorEngine.update`` + ``detect_signals`` per bar, default
  parameters (SMA 20, EMA 12/26, RSI 14, MACD 12/26/9, Bollinger 20/2).
* **naive** -- what the seed projects did: on every bar, recompute every indicator with
  pandas + ``ta`` (``services.core.reference.compute_indicators``) over the symbol's trailing
  ``NAIVE_WINDOW`` bars and compare the last two rows.  Too slow for the whole stream,
  so a sample of bars is timed and the cost per bar extrapolated.
* **talipp** -- talipp 2.7's incremental indicators (BB 20/2, whose central band is the
  SMA 20; MACD 12/26/9, whose fast/slow EMAs are the EMA 12/26; RSI 14), one set per
  symbol, with ``purge_oldest`` trimming their input/output lists so memory stays flat.
* **TA-Lib** -- TA-Lib 0.8's C streaming handles (``talib.stream``: BBANDS, EMA x2, RSI,
  MACD), opened on the warm-up history and carried forward with ``update``.

Both incremental baselines run the same crossing rules as ``detect_signals`` (in Python).

Timings are the best of ``REPEATS`` runs (``time.perf_counter``), the median goes in the
note.  Per-bar results are consumed (signals counted, the last values kept per symbol),
never collected in a list.  Correctness is checked in the same run: the last values of
one symbol must agree between tickflow and each incremental baseline (they seed their
averages differently, which stops mattering after a few hundred bars).
"""
from __future__ import annotations

import gc
import math
import statistics
import time
from collections import deque
from typing import Callable

import numpy as np

from bench.report import Measurement, Report
from services.core.indicators import INDICATOR_COLUMNS, IndicatorEngine, IndicatorParams
from services.core.signals import SignalRules, detect_signals

__all__ = [
    "GROUP", "NAME_NAIVE", "NAME_TALIB", "NAME_TALIPP", "NAME_TICKFLOW",
    "agreement", "make_stream", "run",
]

GROUP = "engine"
NAME_TICKFLOW = "tickflow IndicatorEngine + signals"
NAME_NAIVE = "naive pandas+ta recompute per bar"
NAME_TALIPP = "talipp 2.7 incremental"
NAME_TALIB = "TA-Lib 0.8 C streaming"

SYMBOLS = 5
SEED = 20240601
WARMUP = 250  # bars per symbol fed before the clock starts (>= NAIVE_WINDOW)
NAIVE_WINDOW = 200  # trailing bars the naive approach recomputes over
REPEATS = 3
TALIPP_KEEP = 64  # values talipp keeps after a purge (> its longest look-back, 27)
TALIPP_PURGE_EVERY = 512  # purge once this many values have piled up beyond TALIPP_KEEP
REL_TOL = 1e-6  # agreement of the last values (relative)
ABS_TOL = 1e-9  # ... with an absolute floor for values near 0 (MACD histogram)

_PARAMS = IndicatorParams()
_RULES = SignalRules()
_LOW = float(_RULES.rsi_oversold)
_HIGH = float(_RULES.rsi_overbought)

# the last values each engine reports for a symbol, in INDICATOR_COLUMNS order
Values = tuple[float, ...]


# ----------------------------------------------------------------------------- data

def make_stream(bars: int, symbols: int = SYMBOLS, seed: int = SEED) -> tuple[np.ndarray, list[int], list[float]]:
    """Seeded geometric random walks, ``bars // symbols`` per symbol.

    Returns ``(per_symbol, sym_ids, closes)``: the (bars_per_symbol, symbols) array of
    closes, and the stream interleaved round-robin as two parallel lists of Python
    ints/floats (no numpy scalars on the per-bar path).
    """
    per_symbol = bars // symbols
    if per_symbol <= WARMUP:
        raise ValueError(f"need more than {WARMUP} bars per symbol, got {per_symbol}")
    rng = np.random.default_rng(seed)
    start = np.array([100.0, 42.5, 17.3, 250.0, 8.9] * (symbols // 5 + 1))[:symbols]
    steps = rng.normal(0.0, 0.002, size=(per_symbol, symbols))
    per_sym = start * np.exp(np.cumsum(steps, axis=0))
    sym_ids = list(range(symbols)) * per_symbol
    closes = per_sym.reshape(-1).tolist()  # row-major: bar 0 of every symbol, then bar 1, ...
    return per_sym, sym_ids, closes


# ----------------------------------------------------------------------------- signals for the baselines

def _baseline_signals(prev: Values, rsi: float, fast: float, slow: float, macd: float, signal: float) -> list:
    """``detect_signals``' rules on plain floats: ``prev`` is (rsi, fast, slow, macd, signal)."""
    out = []
    p_rsi, p_fast, p_slow, p_macd, p_signal = prev
    if rsi < _LOW and p_rsi >= _LOW:
        out.append(("rsi", "BUY", rsi, _LOW))
    if rsi > _HIGH and p_rsi <= _HIGH:
        out.append(("rsi", "SELL", rsi, _HIGH))
    if fast > slow:
        if p_fast <= p_slow:
            out.append(("ema_cross", "BUY", fast, slow))
    elif fast < slow and p_fast >= p_slow:
        out.append(("ema_cross", "SELL", fast, slow))
    if macd > signal:
        if p_macd <= p_signal:
            out.append(("macd_cross", "BUY", macd, signal))
    elif macd < signal and p_macd >= p_signal:
        out.append(("macd_cross", "SELL", macd, signal))
    return out


# ----------------------------------------------------------------------------- engines
# Each runner feeds the warm-up bars, times the rest, and returns
# (seconds, timed bars, signals fired, last values of symbol 0, extra note).

def _run_tickflow(sym_ids: list[int], closes: list[float], warm: int):
    engines = [IndicatorEngine(_PARAMS) for _ in range(SYMBOLS)]
    updates = [e.update for e in engines]
    prevs: list = [None] * SYMBOLS
    rules = _RULES
    detect = detect_signals
    for k, c in zip(sym_ids[:warm], closes[:warm]):
        prevs[k] = updates[k](c)
    ids, cls = sym_ids[warm:], closes[warm:]
    fired = 0
    t0 = time.perf_counter()
    for k, c in zip(ids, cls):
        cur = updates[k](c)
        fired += len(detect(prevs[k], cur, rules))
        prevs[k] = cur
    elapsed = time.perf_counter() - t0
    last = prevs[0]
    return elapsed, len(cls), fired, tuple(getattr(last, name) for name in INDICATOR_COLUMNS), ""


def _run_talipp(sym_ids: list[int], closes: list[float], warm: int):
    from talipp.indicators import BB, MACD, RSI

    p = _PARAMS
    sets = []
    for _ in range(SYMBOLS):
        bb = BB(p.bollinger_period, p.bollinger_k)
        macd = MACD(p.macd_fast, p.macd_slow, p.macd_signal)
        rsi = RSI(p.rsi_period)
        sets.append((bb, macd, rsi, macd.ma_fast, macd.ma_slow))
    prevs: list = [None] * SYMBOLS
    keep, limit = TALIPP_KEEP, TALIPP_KEEP + TALIPP_PURGE_EVERY
    signals = _baseline_signals
    purges = 0
    longest = 0

    def feed(ids, cls):
        nonlocal purges, longest
        fired = 0
        for k, c in zip(ids, cls):
            bb, macd, rsi, fast, slow = sets[k]
            bb.add(c)
            macd.add(c)
            rsi.add(c)
            m = macd[-1]
            r = rsi[-1]
            if m is None or m.signal is None or r is None:  # still warming up
                continue
            cur = (r, fast[-1], slow[-1], m.macd, m.signal)
            prev = prevs[k]
            if prev is not None:
                fired += len(signals(prev, *cur))
            prevs[k] = cur
            size = len(bb.input_values)  # (purge_oldest replaces the lists: look them up afresh)
            if size > limit:  # the indicators' lists all grow in step: trim them together
                n = size - keep
                longest = max(longest, size)
                bb.purge_oldest(n)
                macd.purge_oldest(n)
                rsi.purge_oldest(n)
                purges += 1
        return fired

    feed(sym_ids[:warm], closes[:warm])
    ids, cls = sym_ids[warm:], closes[warm:]
    t0 = time.perf_counter()
    fired = feed(ids, cls)
    elapsed = time.perf_counter() - t0
    bb, macd, rsi, fast, slow = sets[0]
    b, m = bb[-1], macd[-1]
    last = (b.cb, fast[-1], slow[-1], rsi[-1], m.macd, m.signal, m.histogram, b.cb, b.ub, b.lb)
    note = f"history purged to {keep} values every {TALIPP_PURGE_EVERY} bars (never above {longest})"
    return elapsed, len(cls), fired, last, note


def _run_talib(sym_ids: list[int], closes: list[float], warm: int):
    from talib import stream

    p = _PARAMS
    history = np.asarray(closes[:warm], dtype=np.float64).reshape(-1, SYMBOLS)
    handles = []
    objects = []
    prevs: list = []
    for k in range(SYMBOLS):
        h = np.ascontiguousarray(history[:, k])
        bb = stream.BBANDS(h, timeperiod=p.bollinger_period, nbdevup=p.bollinger_k, nbdevdn=p.bollinger_k, matype=0)
        fast = stream.EMA(h, timeperiod=p.ema_fast_period)
        slow = stream.EMA(h, timeperiod=p.ema_slow_period)
        rsi = stream.RSI(h, timeperiod=p.rsi_period)
        macd = stream.MACD(h, fastperiod=p.macd_fast, slowperiod=p.macd_slow, signalperiod=p.macd_signal)
        handles.append((bb.update, fast.update, slow.update, rsi.update, macd.update))
        objects.append((bb, macd))
        m = macd.value
        prevs.append((rsi.value, fast.value, slow.value, m[0], m[1]))
    signals = _baseline_signals
    ids, cls = sym_ids[warm:], closes[warm:]
    fired = 0
    t0 = time.perf_counter()
    for k, c in zip(ids, cls):
        bb_up, fast_up, slow_up, rsi_up, macd_up = handles[k]
        bb_up(c)  # the bands: computed like tickflow's, not needed by the signal rules
        m = macd_up(c)
        cur = (rsi_up(c), fast_up(c), slow_up(c), m[0], m[1])
        fired += len(signals(prevs[k], *cur))
        prevs[k] = cur
    elapsed = time.perf_counter() - t0
    r, f, s, _, _ = prevs[0]
    last_b, last_m = objects[0][0].value, objects[0][1].value
    last = (last_b[1], f, s, r, last_m[0], last_m[1], last_m[2], last_b[1], last_b[0], last_b[2])
    return elapsed, len(cls), fired, last, "handles opened on the warm-up history (untimed)"


def _run_naive(sym_ids: list[int], closes: list[float], warm: int, sample: int):
    import pandas as pd

    from services.core.reference import compute_indicators

    windows = [deque(maxlen=NAIVE_WINDOW) for _ in range(SYMBOLS)]
    for k, c in zip(sym_ids[:warm], closes[:warm]):
        windows[k].append(c)
    signals = _baseline_signals
    ids, cls = sym_ids[warm:warm + sample], closes[warm:warm + sample]
    # column positions in INDICATOR_COLUMNS order
    i_rsi, i_fast, i_slow, i_macd, i_sig = (INDICATOR_COLUMNS.index(n)
                                            for n in ("rsi", "ema_fast", "ema_slow", "macd", "macd_signal"))
    fired = 0
    last = None
    t0 = time.perf_counter()
    for k, c in zip(ids, cls):
        w = windows[k]
        w.append(c)
        arr = compute_indicators(pd.Series(w, dtype="float64")).to_numpy()
        prev, cur = arr[-2], arr[-1]
        fired += len(signals((prev[i_rsi], prev[i_fast], prev[i_slow], prev[i_macd], prev[i_sig]),
                             cur[i_rsi], cur[i_fast], cur[i_slow], cur[i_macd], cur[i_sig]))
        if k == 0:
            last = cur
    elapsed = time.perf_counter() - t0
    return elapsed, len(cls), fired, (None if last is None else tuple(float(v) for v in last)), ""


# ----------------------------------------------------------------------------- helpers

def agreement(reference: Values, other: Values, rel: float = REL_TOL, abs_: float = ABS_TOL) -> tuple[bool, float, str]:
    """Compare two sets of last values: ``(agree, max relative difference, worst column)``."""
    worst, worst_col, ok = 0.0, "", True
    for name, a, b in zip(INDICATOR_COLUMNS, reference, other):
        if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
            return False, math.inf, name
        diff = abs(a - b)
        scale = max(abs(a), abs(b))
        r = diff / scale if scale else 0.0
        if r > worst:
            worst, worst_col = r, name
        if diff > rel * scale + abs_:
            ok = False
    return ok, worst, worst_col


def _agree_note(what: str, reference: Values, other: Values | None) -> str:
    if other is None:
        return f"{what}: no values to compare"
    ok, worst, col = agreement(reference, other)
    if ok:
        return f"{what}: agrees (max rel diff {worst:.1e})"
    return f"{what}: differs by {worst:.1e} rel ({col})"


# ----------------------------------------------------------------------------- run

def run(report: Report, bars: int = 1_000_000, quick: bool = False) -> None:
    """Measure tickflow and the baselines; add the ``engine`` group to ``report``."""
    if quick:
        bars = min(bars, 20_000)
    naive_sample = 300 if quick else 2_000
    naive_repeats = 1 if quick else REPEATS
    per_sym, sym_ids, closes = make_stream(bars)
    warm = WARMUP * SYMBOLS
    timed_bars = len(closes) - warm
    setup = (f"{SYMBOLS} symbols x {per_sym.shape[0]:,} bars round-robin, seed {SEED}; "
             f"{timed_bars:,} bars timed after a {WARMUP}-bar warm-up per symbol")

    runners: dict[str, tuple[Callable, int]] = {
        NAME_TICKFLOW: (lambda: _run_tickflow(sym_ids, closes, warm), REPEATS),
        NAME_TALIPP: (lambda: _run_talipp(sym_ids, closes, warm), REPEATS),
        NAME_TALIB: (lambda: _run_talib(sym_ids, closes, warm), REPEATS),
        NAME_NAIVE: (lambda: _run_naive(sym_ids, closes, warm, naive_sample), naive_repeats),
    }
    # repetitions go round the engines, so a burst of load on the shared machine hits all of them alike
    runs: dict[str, list] = {name: [] for name in runners}
    failed: dict[str, str] = {}
    for rep in range(REPEATS):
        for name, (fn, repeats) in runners.items():
            if rep >= repeats or name in failed:
                continue
            gc.collect()
            try:
                res = fn()
            except Exception as exc:  # a baseline that breaks is reported, not fatal
                if name == NAME_TICKFLOW:
                    raise
                failed[name] = f"{type(exc).__name__}: {exc}"
                continue
            runs[name].append((res[0] / res[1], res))

    def summary(name: str):
        """(best s/bar, median s/bar, repetitions, result tuple of the best run)."""
        per_bar = [r[0] for r in runs[name]]
        best = min(runs[name], key=lambda r: r[0])
        return best[0], statistics.median(per_bar), len(per_bar), best[1]

    best, median, reps, (_, _, tick_fired, tick_last, _) = summary(NAME_TICKFLOW)
    tick_us = best * 1e6
    report.add(Measurement(GROUP, NAME_TICKFLOW, 1.0 / best, "bars/s",
                           note=f"best of {reps}; {setup}; {tick_fired:,} signals"))
    report.add(Measurement(GROUP, NAME_TICKFLOW, tick_us, "µs/bar",
                           note=f"best of {reps}, median {median * 1e6:.2f} µs/bar; SMA 20, EMA 12/26, RSI 14, "
                                f"MACD 12/26/9, Bollinger 20/2 + detect_signals"))

    def baseline(name: str, short: str, how: str, check: Callable) -> None:
        if name in failed:
            report.add(Measurement(GROUP, name, 0.0, "µs/bar", note=f"FAILED: {failed[name]}"))
            return
        best, median, reps, (_, _, fired, last, extra) = summary(name)
        us = best * 1e6
        if name == NAME_NAIVE:
            fired_note = f"{fired:,} signals in the sample"
        elif fired == tick_fired:
            fired_note = f"{fired:,} signals, the same count as tickflow"
        else:
            fired_note = f"{fired:,} signals, tickflow {tick_fired:,}"
        parts = [f"best of {reps}, median {median * 1e6:.2f} µs/bar", how, fired_note]
        if extra:
            parts.append(extra)
        parts.append(check(last))
        report.add(Measurement(GROUP, name, us, "µs/bar", note="; ".join(parts),
                               ratio=us / tick_us, ratio_to=f"tickflow speed-up over {short}"))

    # naive: values of symbol 0 at its last sampled bar, against tickflow at the same bar
    def naive_check(last: Values | None) -> str:
        sampled_bars_sym0 = WARMUP + (naive_sample + SYMBOLS - 1) // SYMBOLS
        engine = IndicatorEngine(_PARAMS)
        for c in per_sym[:sampled_bars_sym0, 0].tolist():
            v = engine.update(c)
        ref = tuple(getattr(v, name) for name in INDICATOR_COLUMNS)
        ok, worst, col = agreement(ref, last) if last is not None else (False, math.inf, "")
        return (f"vs tickflow at the same bar: max rel diff {worst:.1e} ({col}; "
                f"EMA/RSI lose their memory beyond the {NAIVE_WINDOW}-bar window)")

    baseline(NAME_NAIVE, "naive pandas+ta",
             f"services.core.reference.compute_indicators over the trailing {NAIVE_WINDOW} bars on every bar, "
             f"{naive_sample:,} bars sampled and extrapolated", naive_check)
    baseline(NAME_TALIPP, "talipp",
             "BB 20/2 (central band = SMA 20), MACD 12/26/9 (its EMAs = EMA 12/26), RSI 14; same signal rules",
             lambda last: _agree_note("last values of symbol 0 vs tickflow", tick_last, last))
    baseline(NAME_TALIB, "TA-Lib stream",
             "talib.stream BBANDS 20/2 (middle = SMA 20), EMA 12, EMA 26, RSI 14, MACD 12/26/9; same signal rules",
             lambda last: _agree_note("last values of symbol 0 vs tickflow", tick_last, last))
