"""Checks of the numbers that configure indicators and signal rules.

``IndicatorParams`` and ``SignalRules`` validate themselves with these, and the
indicator classes check their own arguments with the same functions, so one
rule holds wherever a period or a band width is given.  Each check returns the
value as a plain ``int``/``float`` (numpy scalars from configuration become
JSON-serialisable) or raises ``ValueError`` naming the field.
"""

from __future__ import annotations

import math
import operator
from typing import SupportsFloat, SupportsIndex

__all__ = ["finite_number", "period", "positive_number"]


def period(name: str, value: object) -> int:
    """A number of bars: an int >= 1.  ``True`` is refused although Python counts it as 1."""
    bars = operator.index(value) if isinstance(value, SupportsIndex) and not isinstance(value, bool) else 0
    if bars < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(bars)


def finite_number(name: str, value: object) -> float:
    """A finite real number.  Strings are refused (``float("2")`` would accept them), and so are bools."""
    number = float(value) if isinstance(value, SupportsFloat) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def positive_number(name: str, value: object) -> float:
    """A finite number > 0."""
    number = finite_number(name, value)
    if number <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number
