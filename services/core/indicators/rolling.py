"""The last ``period`` values of a series, with an O(1) running mean and deviation.

Shared by the SMA (mean only) and the Bollinger bands (mean and deviation).
"""

from __future__ import annotations

import math
import sys
from typing import Any

from services.core.indicators.base import Indicator, require_keys
from services.core.validation import period as check_period

__all__ = ["RollingWindow"]

_copysign = math.copysign
_sqrt = math.sqrt
# pandas treats an update as ill-conditioned when fewer than ~3 significant digits survive
_INV_COND_TOL = sys.float_info.epsilon * 1e3


class RollingWindow(Indicator):
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
        self.period = period = check_period("period", period)
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

    def to_state(self) -> dict[str, Any]:
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

    def load_state(self, state: dict[str, Any]) -> None:
        keys: tuple[str, ...] = ("buf", "pos", "count", "same", "last", "neg", "sum", "sum_comp_add", "sum_comp_rem",
                                 "mean")
        if self.track_std:
            keys += ("wmean", "m2", "wcomp_add", "wcomp_rem", "std")
        require_keys(state, keys, "RollingWindow")
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
