"""O(1) streaming technical indicators on closing prices.

One file per indicator, each an ``Indicator`` (``base.py``: ``update``,
``to_state``, ``load_state``):

* ``ema.py`` -- EMA, ``ewm(span=n, min_periods=n, adjust=False).mean()``:
  seeded with the first close; ``alpha`` goes through the centre of mass as
  in pandas, and an update is skipped when the new value equals the average.
* ``rolling.py`` -- the ring buffer with running sums behind the SMA and the
  Bollinger bands: a Kahan-compensated running sum (pandas'
  ``rolling(n, min_periods=n).mean()``, exactly the value itself when the
  whole window holds one repeated value) and Welford's running mean and sum
  of squared deviations (``rolling(n).std(ddof=0)``, pandas 3), recomputed
  from the window when an update loses nearly all significant digits.
* ``sma.py``, ``bollinger.py`` -- the window's mean; mean +/- k deviations.
* ``rsi.py`` -- Wilder smoothing (an EMA with ``alpha = 1/n``) of gains and
  losses, the first (missing) price change counting as a 0 gain and a 0
  loss, so the first RSI is at index ``n - 1``; 100 when the average loss is 0.
* ``macd.py`` -- EMA(fast) - EMA(slow); the signal line is an EMA of the MACD
  seeded with the first MACD value, so it starts ``signal - 1`` bars after
  the MACD (index 33 with 12/26/9); histogram = MACD - signal.

``params.py`` holds the validated parameters, ``values.py`` one bar's values
(a NamedTuple; ``INDICATOR_COLUMNS`` are its fields), ``engine.py`` the
``IndicatorEngine`` combining them for one symbol.

Each indicator repeats, operation by operation, the floating-point arithmetic
pandas performs for the ``ta`` 0.11 implementation (``fillna=False``), so a
stream of ``IndicatorEngine.update`` calls gives the same numbers -- to the
last bit -- and the same leading ``None``/NaN positions as
``services.core.reference.compute_indicators`` on the whole series (README,
"Indicators").  Closing prices must be finite; NaN or infinity raises
``ValueError`` (either would poison the running averages for good).

The indicators keep their state in ``__slots__`` attributes and allocate
nothing per update beyond float results and the values tuple; a whole
``IndicatorEngine.update`` costs about 2 us in CPython 3.11.
``to_state``/``from_state`` capture the state with plain JSON types; a
restored engine continues bit-identically.
"""

from services.core.indicators.base import Indicator
from services.core.indicators.bollinger import Bollinger
from services.core.indicators.ema import Ema, ewm_alpha_from_alpha, ewm_alpha_from_span
from services.core.indicators.engine import STATE_VERSION, IndicatorEngine
from services.core.indicators.macd import Macd
from services.core.indicators.params import IndicatorParams
from services.core.indicators.rolling import RollingWindow
from services.core.indicators.rsi import Rsi
from services.core.indicators.sma import Sma
from services.core.indicators.values import INDICATOR_COLUMNS, IndicatorValues

__all__ = [
    "INDICATOR_COLUMNS",
    "STATE_VERSION",
    "Bollinger",
    "Ema",
    "Indicator",
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
