"""O(1) streaming technical indicators on closing prices.

Each indicator repeats, operation by operation, the floating-point arithmetic
pandas performs for the ``ta`` 0.11 implementation (``fillna=False``), so a
stream of ``IndicatorEngine.update`` calls gives the same numbers -- to the
last bit -- and the same leading ``None``/NaN positions as
``services.core.reference.compute_indicators`` on the whole series:

* SMA and the Bollinger middle band, ``rolling(n, min_periods=n).mean()``:
  a running sum with Kahan compensation (separate terms for values entering
  and leaving the window); exactly the value itself when the whole window
  holds one repeated value.
* Bollinger deviation, ``rolling(n, min_periods=n).std(ddof=0)`` (pandas 3):
  Welford's running mean and sum of squared deviations with Kahan-compensated
  mean updates; the window is recomputed from its values when an update
  loses nearly all significant digits (catastrophic cancellation).
* EMA, ``ewm(span=n, min_periods=n, adjust=False).mean()``: seeded with the
  first close; ``alpha`` goes through the centre of mass as in pandas, and an
  update is skipped when the new value equals the average.
* RSI: Wilder smoothing (``ewm(alpha=1/n, min_periods=n, adjust=False)``) of
  gains and losses, the first (missing) price change counting as a 0 gain and
  a 0 loss, so the first RSI is at index ``n - 1``; 100 when the average loss
  is 0.
* MACD: EMA(fast) - EMA(slow); the signal line is an EMA of the MACD seeded
  with the first MACD value, so it starts ``signal - 1`` bars after the MACD
  (index 33 with 12/26/9); histogram = MACD - signal.

Closing prices must be finite; NaN or infinity raises ``ValueError`` (either
would poison the running averages for good).

The indicator classes keep their state in ``__slots__`` attributes and
allocate nothing per update beyond float results; a whole
``IndicatorEngine.update`` costs about 2 us in CPython 3.11.
``to_state``/``from_state`` capture the state with plain JSON types; a
restored engine continues bit-identically.
"""

from __future__ import annotations

import math
import operator
import sys
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "INDICATOR_COLUMNS",
    "STATE_VERSION",
    "Bollinger",
    "Ema",
    "IndicatorEngine",
    "IndicatorParams",
    "IndicatorValues",
    "Macd",
    "RollingWindow",
    "Rsi",
    "Sma",
    "ewm_alpha_from_span",
    "ewm_alpha_from_alpha",
]

STATE_VERSION = 1

_copysign = math.copysign
_sqrt = math.sqrt
# pandas treats an update as ill-conditioned when fewer than ~3 significant digits survive
_INV_COND_TOL = sys.float_info.epsilon * 1e3


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    sma_period: int = 20
    ema_fast_period: int = 12
    ema_slow_period: int = 26
    rsi_period: int = 14
    macd_fast: int = 12
    macd_slow: int = 26
    macd_signal: int = 9
    bollinger_period: int = 20
    bollinger_k: float = 2.0

    def __post_init__(self) -> None:
        # validate, and normalise to plain int/float (e.g. numpy scalars from config) so the
        # params stay JSON-serialisable inside IndicatorEngine.to_state()
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "bollinger_k":
                try:
                    k = float(value)
                except (TypeError, ValueError):
                    k = math.nan
                if isinstance(value, (bool, str)) or not math.isfinite(k) or k < 0:
                    raise ValueError(f"bollinger_k must be a finite number >= 0, got {value!r}")
                object.__setattr__(self, f.name, k)
            else:
                try:
                    period = operator.index(value)
                except TypeError:
                    period = 0
                if isinstance(value, bool) or period < 1:
                    raise ValueError(f"{f.name} must be an int >= 1, got {value!r}")
                object.__setattr__(self, f.name, int(period))


@dataclass(frozen=True, slots=True)
class IndicatorValues:
    """One bar's indicator values; ``None`` where the indicator has no value yet."""

    sma: float | None
    ema_fast: float | None
    ema_slow: float | None
    rsi: float | None
    macd: float | None
    macd_signal: float | None
    macd_hist: float | None
    bb_middle: float | None
    bb_upper: float | None
    bb_lower: float | None


INDICATOR_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(IndicatorValues))


def _values_factory():
    """A fast constructor for IndicatorValues (used on the per-bar path).

    The ``__init__`` generated for a frozen dataclass sets every field through
    ``object.__setattr__(self, name, value)``, about 1 us for ten fields.
    Instead, fill an instance of a plain class with the very same slot layout
    (fast slot stores) and then switch its ``__class__`` to IndicatorValues --
    CPython allows that between layout-compatible classes.  The result is an
    ordinary, frozen IndicatorValues (same type, ``==``, ``hash``).  Should
    the interpreter refuse, fall back to calling the slot descriptors.
    """
    cls = IndicatorValues
    new = object.__new__

    class _Builder:
        __slots__ = cls.__slots__

    def make(sma, ema_fast, ema_slow, rsi, macd, macd_signal, macd_hist, bb_middle, bb_upper, bb_lower):
        o = new(_Builder)
        o.sma = sma
        o.ema_fast = ema_fast
        o.ema_slow = ema_slow
        o.rsi = rsi
        o.macd = macd
        o.macd_signal = macd_signal
        o.macd_hist = macd_hist
        o.bb_middle = bb_middle
        o.bb_upper = bb_upper
        o.bb_lower = bb_lower
        o.__class__ = cls
        return o

    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = (getattr(cls, name).__set__ for name in INDICATOR_COLUMNS)

    def make_portable(sma, ema_fast, ema_slow, rsi, macd, macd_signal, macd_hist, bb_middle, bb_upper, bb_lower):
        o = new(cls)
        s0(o, sma)
        s1(o, ema_fast)
        s2(o, ema_slow)
        s3(o, rsi)
        s4(o, macd)
        s5(o, macd_signal)
        s6(o, macd_hist)
        s7(o, bb_middle)
        s8(o, bb_upper)
        s9(o, bb_lower)
        return o

    probe_values = tuple(float(i) for i in range(len(INDICATOR_COLUMNS)))
    try:
        probe = make(*probe_values)
        if type(probe) is cls and probe == cls(*probe_values):
            return make
    except TypeError:
        pass
    return make_portable


_make_values = _values_factory()


def ewm_alpha_from_span(span: int) -> float:
    """The smoothing factor pandas uses for ``ewm(span=span)`` (via the centre of mass)."""
    com = float((span - 1) / 2)
    return 1.0 / (1.0 + com)


def ewm_alpha_from_alpha(alpha: float) -> float:
    """The smoothing factor pandas really uses for ``ewm(alpha=alpha)`` (via the centre of mass)."""
    com = float((1 - alpha) / alpha)
    return 1.0 / (1.0 + com)


def _check_keys(state: dict, keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if k not in state]
    if missing:
        raise ValueError(f"{what} state lacks {missing}")


class Ema:
    """Exponential moving average, ``adjust=False``, seeded with the first value.

    pandas' ``ewm(span=period, min_periods=period, adjust=False).mean()``:
    ``avg = ((1 - a) * avg + a * x) / ((1 - a) + a)``, skipped when ``x``
    equals ``avg``.  ``update`` returns the average once ``period`` values
    have been seen, ``None`` before; ``value`` holds the same.
    """

    __slots__ = ("period", "value", "_alpha", "_beta", "_norm", "_avg", "_count")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        self.period = period
        self.value: float | None = None
        a = ewm_alpha_from_span(period)
        self._alpha = a
        self._beta = 1.0 - a  # pandas: old_wt = 1.0 * (1 - alpha)
        self._norm = self._beta + a  # pandas divides by (old_wt + new_wt), not always exactly 1.0
        self._avg = 0.0
        self._count = 0  # values seen, saturates at period

    def update(self, x: float) -> float | None:
        n = self._count
        if n >= self.period:  # steady state
            w = self._avg
            if w != x:
                w = (self._beta * w + self._alpha * x) / self._norm
                self._avg = w
                self.value = w
            return w
        if n:
            w = self._avg
            if w != x:
                w = (self._beta * w + self._alpha * x) / self._norm
        else:
            w = x
        self._avg = w
        n += 1
        self._count = n
        if n >= self.period:
            self.value = w
            return w
        return None

    def to_state(self) -> dict:
        return {"avg": self._avg, "count": self._count}

    def load_state(self, state: dict) -> None:
        _check_keys(state, ("avg", "count"), "Ema")
        self._avg = float(state["avg"])
        self._count = int(state["count"])
        self.value = self._avg if self._count >= self.period else None


class RollingWindow:
    """The last ``period`` values in a list ring buffer, with O(1) mean and std.

    Mean (pandas ``rolling().mean()``): Kahan-compensated running sum with one
    compensation term for values entering and one for values leaving the
    window, ``sum / n``; exactly the newest value when the whole window holds
    one repeated value; 0 if rounding gave the mean a sign no value has.

    Deviation (``track_std``; pandas 3 ``rolling().std(ddof=0)``): Welford's
    running mean and sum of squared deviations (``M2``) with Kahan-compensated
    mean updates.  If an update shrinks ``M2`` by more than a factor
    ``1 / (1000 * machine epsilon)`` -- catastrophic cancellation, e.g. once
    a large move has left the window -- the window is recomputed from its
    values (O(period), rare).  A negative rounding residue gives a deviation
    of 0.

    The arithmetic is pandas', step by step, so results agree to the last bit.
    After each ``update``: ``mean`` and ``std`` hold the window's values, or
    ``None`` until the window is full.
    """

    __slots__ = (
        "period", "track_std", "mean", "std",
        "_buf", "_pos", "_count", "_same", "_last", "_neg",
        "_sum", "_sum_comp_add", "_sum_comp_rem",
        "_wmean", "_m2", "_wcomp_add", "_wcomp_rem",
    )  # fmt: skip

    def __init__(self, period: int, track_std: bool = False) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        self.period = period
        self.track_std = track_std
        self.mean: float | None = None
        self.std: float | None = None
        self._buf = [0.0] * period
        self._pos = 0  # next slot to write; the oldest value once the window is full
        self._count = 0  # values in the window
        self._same = 0  # run length of identical values ending at the newest one (saturates at period)
        self._last = 0.0  # newest value
        self._neg = 0  # values in the window with the sign bit set
        self._sum = 0.0
        self._sum_comp_add = 0.0
        self._sum_comp_rem = 0.0
        self._wmean = 0.0
        self._m2 = 0.0
        self._wcomp_add = 0.0
        self._wcomp_rem = 0.0

    def values(self) -> list[float]:
        """The window's values, oldest first."""
        n = self._count
        if n < self.period:
            return self._buf[:n]
        pos = self._pos
        return self._buf[pos:] + self._buf[:pos]

    def update(self, x: float) -> float | None:
        """Push ``x`` (evicting the oldest value once full); return the mean or ``None``."""
        period = self.period
        buf = self._buf
        pos = self._pos
        n = self._count
        track_std = self.track_std
        unstable = False
        if n == period:
            old = buf[pos]
            # -- remove the oldest value: running sum ...
            y = -old - self._sum_comp_rem
            s = self._sum
            total = s + y
            self._sum_comp_rem = total - s - y
            s = total
            if old <= 0.0 and (old < 0.0 or _copysign(1.0, old) < 0.0):
                self._neg -= 1
            # ... and Welford
            if track_std:
                n1 = n - 1
                if n1:
                    m2 = self._m2
                    c = self._wcomp_rem
                    m = self._wmean
                    prev_mean = m - c
                    y = old - c
                    t = y - m
                    self._wcomp_rem = t + m - y
                    m -= t / n1
                    self._wmean = m
                    new_m2 = m2 - (old - prev_mean) * (old - m)
                    self._m2 = new_m2
                    unstable = m2 * _INV_COND_TOL > new_m2
                else:
                    self._wmean = 0.0
                    self._m2 = 0.0
        else:
            s = self._sum
            n += 1
            self._count = n
        buf[pos] = x
        pos += 1
        self._pos = 0 if pos == period else pos
        # -- add the new value: running sum ...
        y = x - self._sum_comp_add
        total = s + y
        self._sum_comp_add = total - s - y
        self._sum = total
        if x <= 0.0 and (x < 0.0 or _copysign(1.0, x) < 0.0):
            self._neg += 1
        if x == self._last:
            if self._same < period:
                self._same += 1
        else:
            self._same = 1
        self._last = x
        # ... and Welford
        if track_std:
            m2 = self._m2
            c = self._wcomp_add
            m = self._wmean
            prev_mean = m - c
            y = x - c
            t = y - m
            self._wcomp_add = t + m - y
            m += t / n
            self._wmean = m
            new_m2 = m2 + (x - prev_mean) * (x - m)
            self._m2 = new_m2
            if unstable or m2 * _INV_COND_TOL > new_m2 or period == 1:
                self._recompute_m2()
        if n < period:
            return None
        # -- results (the window is full)
        if self._same >= n:
            mean = x
        else:
            mean = total / n
            if mean < 0.0:
                if self._neg == 0:
                    mean = 0.0
            elif mean > 0.0 and self._neg == n:
                mean = 0.0
        self.mean = mean
        if track_std:
            var = self._m2 / n
            self.std = _sqrt(var) if var >= 0.0 else 0.0
        return mean

    def _recompute_m2(self) -> None:
        """Welford over the window's values from scratch (pandas' recovery from cancellation)."""
        m = m2 = c = 0.0
        k = 0
        for v in self.values():
            k += 1
            prev_mean = m - c
            y = v - c
            t = y - m
            c = t + m - y
            m += t / k
            m2 += (v - prev_mean) * (v - m)
        self._wmean = m
        self._m2 = m2
        self._wcomp_add = c
        self._wcomp_rem = 0.0

    def to_state(self) -> dict:
        state = {
            "buf": list(self._buf),
            "pos": self._pos,
            "count": self._count,
            "same": self._same,
            "last": self._last,
            "neg": self._neg,
            "sum": self._sum,
            "sum_comp_add": self._sum_comp_add,
            "sum_comp_rem": self._sum_comp_rem,
            "mean": self.mean,
        }
        if self.track_std:
            state.update(
                wmean=self._wmean,
                m2=self._m2,
                wcomp_add=self._wcomp_add,
                wcomp_rem=self._wcomp_rem,
                std=self.std,
            )
        return state

    def load_state(self, state: dict) -> None:
        keys = ("buf", "pos", "count", "same", "last", "neg", "sum", "sum_comp_add", "sum_comp_rem", "mean")
        if self.track_std:
            keys += ("wmean", "m2", "wcomp_add", "wcomp_rem", "std")
        _check_keys(state, keys, "RollingWindow")
        buf = [float(v) for v in state["buf"]]
        if len(buf) != self.period:
            raise ValueError(f"RollingWindow state has {len(buf)} slots, period is {self.period}")
        self._buf = buf
        self._pos = int(state["pos"])
        self._count = int(state["count"])
        self._same = int(state["same"])
        self._last = float(state["last"])
        self._neg = int(state["neg"])
        self._sum = float(state["sum"])
        self._sum_comp_add = float(state["sum_comp_add"])
        self._sum_comp_rem = float(state["sum_comp_rem"])
        self.mean = None if state["mean"] is None else float(state["mean"])
        if self.track_std:
            self._wmean = float(state["wmean"])
            self._m2 = float(state["m2"])
            self._wcomp_add = float(state["wcomp_add"])
            self._wcomp_rem = float(state["wcomp_rem"])
            self.std = None if state["std"] is None else float(state["std"])


class Sma(RollingWindow):
    """Simple moving average over ``period`` closes (``update`` returns it, or ``None``)."""

    __slots__ = ()

    def __init__(self, period: int) -> None:
        super().__init__(period, track_std=False)

    @property
    def value(self) -> float | None:
        return self.mean


class Bollinger(RollingWindow):
    """Bollinger bands: rolling mean +/- k population standard deviations.

    ``update`` returns the middle band (or ``None``); ``upper``/``lower`` are
    ``mean + k * std`` and ``mean - k * std`` (``ta``'s arithmetic).
    """

    __slots__ = ("k",)

    def __init__(self, period: int, k: float) -> None:
        super().__init__(period, track_std=True)
        self.k = float(k)

    @property
    def middle(self) -> float | None:
        return self.mean

    @property
    def upper(self) -> float | None:
        return None if self.mean is None else self.mean + self.k * self.std

    @property
    def lower(self) -> float | None:
        return None if self.mean is None else self.mean - self.k * self.std


class Rsi:
    """Relative strength index with Wilder smoothing.

    pandas/``ta``: gains and losses are each smoothed with
    ``ewm(alpha=1/period, min_periods=period, adjust=False)``; the first bar
    has no price change and counts as a 0 gain and a 0 loss, so the first
    RSI comes on bar ``period`` (index ``period - 1``).  RSI is
    ``100 - 100 / (1 + avg_gain / avg_loss)``, and 100 whenever the average
    loss is 0 (even if the average gain is 0 as well).
    """

    __slots__ = ("period", "value", "_alpha", "_beta", "_norm", "_prev", "_up", "_down", "_count")

    def __init__(self, period: int) -> None:
        if period < 1:
            raise ValueError("period must be >= 1")
        self.period = period
        self.value: float | None = None
        a = ewm_alpha_from_alpha(1 / period)
        self._alpha = a
        self._beta = 1.0 - a
        self._norm = self._beta + a
        self._prev: float | None = None
        self._up = 0.0
        self._down = 0.0
        self._count = 0  # bars seen, saturates at period

    def update(self, x: float) -> float | None:
        prev = self._prev
        self._prev = x
        if prev is None:
            # the seed of both averages is the first bar's 0 gain / 0 loss
            up = self._up = 0.0
            down = self._down = 0.0
        else:
            d = x - prev
            if d > 0.0:
                gain = d
                loss = 0.0
            elif d < 0.0:
                gain = 0.0
                loss = -d
            else:
                gain = loss = 0.0
            up = self._up
            if up != gain:
                up = (self._beta * up + self._alpha * gain) / self._norm
                self._up = up
            down = self._down
            if down != loss:
                down = (self._beta * down + self._alpha * loss) / self._norm
                self._down = down
        n = self._count
        if n < self.period:
            n += 1
            self._count = n
            if n < self.period:
                return None
        rsi = 100.0 if down == 0.0 else 100.0 - 100.0 / (1.0 + up / down)
        self.value = rsi
        return rsi

    def to_state(self) -> dict:
        return {"prev": self._prev, "up": self._up, "down": self._down, "count": self._count, "value": self.value}

    def load_state(self, state: dict) -> None:
        _check_keys(state, ("prev", "up", "down", "count", "value"), "Rsi")
        self._prev = None if state["prev"] is None else float(state["prev"])
        self._up = float(state["up"])
        self._down = float(state["down"])
        self._count = int(state["count"])
        self.value = None if state["value"] is None else float(state["value"])


class Macd:
    """MACD = EMA(fast) - EMA(slow); signal = EMA(signal) of the MACD; hist = MACD - signal.

    The MACD exists once both EMAs do (bar ``max(fast, slow)``); the signal
    EMA is seeded with that first MACD value, so it starts ``signal - 1``
    bars later (index 33 with 12/26/9).  ``update`` returns the MACD (or
    ``None``); ``macd``, ``signal``, ``hist`` and the EMAs ``fast``/``slow``
    hold the values of the latest bar.
    """

    __slots__ = ("fast", "slow", "signal_ema", "macd", "signal", "hist")

    def __init__(self, fast: int, slow: int, signal: int) -> None:
        self.fast = Ema(fast)
        self.slow = Ema(slow)
        self.signal_ema = Ema(signal)
        self.macd: float | None = None
        self.signal: float | None = None
        self.hist: float | None = None

    def update(self, x: float) -> float | None:
        f = self.fast.update(x)
        s = self.slow.update(x)
        if f is None or s is None:
            return None
        m = f - s
        self.macd = m
        sig = self.signal_ema.update(m)
        if sig is not None:
            self.signal = sig
            self.hist = m - sig
        return m

    def to_state(self) -> dict:
        return {"fast": self.fast.to_state(), "slow": self.slow.to_state(), "signal": self.signal_ema.to_state()}

    def load_state(self, state: dict) -> None:
        _check_keys(state, ("fast", "slow", "signal"), "Macd")
        self.fast.load_state(state["fast"])
        self.slow.load_state(state["slow"])
        self.signal_ema.load_state(state["signal"])
        f, s = self.fast.value, self.slow.value
        self.macd = None if f is None or s is None else f - s
        self.signal = self.signal_ema.value
        self.hist = None if self.signal is None else self.macd - self.signal


class IndicatorEngine:
    """All indicators of one symbol, O(1) per update.

    When the crossover EMAs have the MACD's fast/slow periods (the default),
    or the SMA has the Bollinger period (the default), the engine computes
    them once; the arithmetic is the same either way, so results are
    identical.
    """

    __slots__ = ("params", "_macd", "_ema_fast", "_ema_slow", "_bb", "_bb_k", "_sma", "_rsi")

    def __init__(self, params: IndicatorParams = IndicatorParams()) -> None:
        self.params = params
        self._macd = Macd(params.macd_fast, params.macd_slow, params.macd_signal)
        # None: shared with the MACD
        self._ema_fast = None if params.ema_fast_period == params.macd_fast else Ema(params.ema_fast_period)
        self._ema_slow = None if params.ema_slow_period == params.macd_slow else Ema(params.ema_slow_period)
        self._bb = Bollinger(params.bollinger_period, params.bollinger_k)
        self._bb_k = self._bb.k
        # None: shared with the Bollinger middle band
        self._sma = None if params.sma_period == params.bollinger_period else Sma(params.sma_period)
        self._rsi = Rsi(params.rsi_period)

    def update(self, close: float) -> IndicatorValues:
        """Feed one closing price; return that bar's indicator values."""
        close = float(close)
        if close - close != 0.0:  # NaN or +-inf
            raise ValueError(f"close must be a finite number, got {close!r}")

        macd_ind = self._macd
        macd = macd_ind.update(close)
        ema = self._ema_fast
        ema_fast = macd_ind.fast.value if ema is None else ema.update(close)
        ema = self._ema_slow
        ema_slow = macd_ind.slow.value if ema is None else ema.update(close)
        if macd is None:
            macd_signal = macd_hist = None
        else:
            macd_signal = macd_ind.signal
            macd_hist = macd_ind.hist

        bb = self._bb
        bb_middle = bb.update(close)
        if bb_middle is None:
            bb_upper = bb_lower = None
        else:
            d = self._bb_k * bb.std
            bb_upper = bb_middle + d
            bb_lower = bb_middle - d
        sma_ind = self._sma
        sma = bb_middle if sma_ind is None else sma_ind.update(close)

        rsi = self._rsi.update(close)
        return _make_values(sma, ema_fast, ema_slow, rsi, macd, macd_signal, macd_hist, bb_middle, bb_upper, bb_lower)

    def to_state(self) -> dict:
        """Complete engine state as plain JSON types (dict/list/float/int/None)."""
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "params": asdict(self.params),
            "macd": self._macd.to_state(),
            "bollinger": self._bb.to_state(),
            "rsi": self._rsi.to_state(),
        }
        if self._ema_fast is not None:
            state["ema_fast"] = self._ema_fast.to_state()
        if self._ema_slow is not None:
            state["ema_slow"] = self._ema_slow.to_state()
        if self._sma is not None:
            state["sma"] = self._sma.to_state()
        return state

    @classmethod
    def from_state(cls, state: dict, params: IndicatorParams) -> "IndicatorEngine":
        """Rebuild an engine from ``to_state()`` output; it continues bit-identically.

        Raises ``ValueError`` if the state has another version, was saved with
        different parameters, or lacks parts.
        """
        if not isinstance(state, dict):
            raise ValueError(f"indicator state must be a dict, got {type(state).__name__}")
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported indicator state version {state.get('version')!r}")
        if state.get("params") != asdict(params):
            raise ValueError(f"indicator state was saved with params {state.get('params')}, not {asdict(params)}")
        engine = cls(params)
        try:
            engine._macd.load_state(state["macd"])
            engine._bb.load_state(state["bollinger"])
            engine._rsi.load_state(state["rsi"])
            if engine._ema_fast is not None:
                engine._ema_fast.load_state(state["ema_fast"])
            if engine._ema_slow is not None:
                engine._ema_slow.load_state(state["ema_slow"])
            if engine._sma is not None:
                engine._sma.load_state(state["sma"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"incomplete indicator state: {exc!r}") from exc
        return engine
