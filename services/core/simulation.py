"""Deterministic market simulation (pure: no I/O, no clock, no threads).

Model
-----
* Every symbol follows its own geometric Brownian motion (GBM) whose state carries over from
  one candle to the next: ``S' = S * exp((mu - sigma^2/2) dt + sigma sqrt(dt) Z)``.  ``mu`` and
  ``sigma`` are annualised over a trading year of 252 days of 6.5 hours.
* The time rule (``market_years``): simulated market time is tied to the timestamps.  A candle
  advances the model by the time since its symbol's previous candle (the first one by
  ``interval``) times ``speed`` (default 1: a second of timestamps is a second of trading).  So
  volatility per unit of time is the same whatever the spacing: a compressed history (a candle
  per 10 s) and the live stream after ``retime`` (a candle per 100 ms) look alike in any
  timeframe, and a gap between them moves the price as much as that much time would.  (It used
  to be one trading minute per candle whatever the spacing: the live 5m candles then ranged 10x
  wider than the history's.)
* A candle opens at the previous close.  High and low are drawn from the exact distributions of
  the maximum / minimum of a Brownian bridge between log(open) and log(close), so
  ``high >= max(open, close)`` and ``low <= min(open, close)`` always hold.
* Around the current price each tick may also carry side records (``RecordMix`` gives the odds):
  an order-book quote (one ``buy`` below and one ``sell`` above the close), a news sentiment
  reading (an Ornstein-Uhlenbeck process with occasional shocks), fundamentals
  (``market_cap = price * shares outstanding``, ``pe_ratio = price / eps``).
* Economic indicators (CPI, unemployment_rate, fed_funds_rate, GDP_growth) evolve slowly on
  their own random stream and are released inside the ticks of one "clock" symbol (by default the
  first symbol), so they are deterministic too.

Determinism
-----------
Each symbol owns two ``random.Random`` generators (price path and side records) seeded from a
BLAKE2b digest of ``(seed, symbol)``; the economic series own another one.  A symbol's stream
therefore depends only on ``(seed, symbol, start, interval, mix, profile)`` -- not on the other
symbols, on how symbols are spread over workers (see ``partition``) or on how records are later
batched.  Candle ``n`` of a symbol (n = 0, 1, ...) has timestamp ``round(start + n*interval, 6)``.

Natural keys are unique by construction: one candle per (symbol, timestamp), at most one
``buy`` and one ``sell`` order-book entry, one news and one market-data record per
(symbol, timestamp), and at most one economic release per clock tick.
"""
from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TRADING_YEAR_SECONDS = 252 * 390 * 60  # 252 trading days of 6.5 hours
TRADING_MINUTE_YEARS = 60 / TRADING_YEAR_SECONDS
MARKET_SPEED = 1.0  # seconds of trading per second of timestamps
PRICE_DECIMALS = 4
PRICE_TICK = 10.0**-PRICE_DECIMALS
MIN_PRICE = 0.01  # the GBM state is floored here so a price can never round to 0
TIMESTAMP_DECIMALS = 6
MIN_INTERVAL = 1e-5


@dataclass(frozen=True)
class RecordMix:
    """How often side records ride along with candles (probabilities in [0, 1]).

    order_book:  per candle, chance of an order-book quote (one buy + one sell entry).
    news:        per candle, chance of a news_sentiment record.
    market_data: per candle, chance of a market_data record.
    economic:    per candle of the clock symbol (i.e. once per round over all symbols), chance
                 that one economic indicator is released; 0.05 with 5 symbols ~ 1% of all candles.
    news_shock:  per candle, chance of a news shock (a jump of the sentiment state).
    """

    order_book: float = 0.5
    news: float = 0.1
    market_data: float = 0.05
    economic: float = 0.05
    news_shock: float = 0.01

    def __post_init__(self) -> None:
        for name in ("order_book", "news", "market_data", "economic", "news_shock"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise ValueError(f"RecordMix.{name} must be within [0, 1], got {value!r}")


@dataclass(frozen=True)
class SymbolProfile:
    """Starting level and dynamics of one symbol (mu and sigma annualised)."""

    price: float
    mu: float
    sigma: float
    shares_outstanding: float
    eps: float
    volume: float  # typical shares traded per candle

    def __post_init__(self) -> None:
        if not (self.price > 0 and self.sigma >= 0 and self.shares_outstanding > 0 and self.eps != 0):
            raise ValueError(f"invalid SymbolProfile {self!r}")
        if not (self.volume >= 0):
            raise ValueError(f"invalid SymbolProfile volume {self.volume!r}")


PROFILES: Mapping[str, SymbolProfile] = {
    "AAPL": SymbolProfile(190.0, 0.08, 0.25, 15.4e9, 6.40, 140_000),
    "GOOGL": SymbolProfile(140.0, 0.09, 0.28, 12.4e9, 5.80, 70_000),
    "AMZN": SymbolProfile(180.0, 0.10, 0.32, 10.4e9, 4.20, 110_000),
    "MSFT": SymbolProfile(420.0, 0.09, 0.22, 7.43e9, 11.80, 55_000),
    "TSLA": SymbolProfile(250.0, 0.05, 0.55, 3.19e9, 3.10, 250_000),
    "NVDA": SymbolProfile(120.0, 0.15, 0.50, 24.5e9, 2.10, 800_000),
    "META": SymbolProfile(500.0, 0.10, 0.35, 2.53e9, 19.50, 40_000),
}


def market_years(seconds: float, speed: float = MARKET_SPEED) -> float:
    """The time rule (module docstring): the market time, in trading years, that passes between
    two candles `seconds` apart."""
    return seconds * speed / TRADING_YEAR_SECONDS


def _digest(*parts: object) -> bytes:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _rng(*parts: object) -> random.Random:
    return random.Random(int.from_bytes(_digest("tickflow", *parts), "big"))


def default_profile(symbol: str) -> SymbolProfile:
    """Known profile, or a deterministic one derived from a digest of the name (not hash())."""
    if symbol in PROFILES:
        return PROFILES[symbol]
    d = _digest("profile", symbol)
    u = [int.from_bytes(d[i : i + 2], "big") / 65535.0 for i in range(0, 12, 2)]
    price = round(math.exp(math.log(10.0) + u[0] * (math.log(600.0) - math.log(10.0))), 2)
    return SymbolProfile(
        price=price,
        mu=0.02 + 0.10 * u[1],
        sigma=0.15 + 0.45 * u[2],
        shares_outstanding=float(round(2e8 * math.exp(u[3] * math.log(50.0)), -6)),
        eps=round(price / (10.0 + 30.0 * u[4]), 2) or 0.01,
        volume=float(round(5_000 * math.exp(u[5] * math.log(60.0)))),
    )


@dataclass(frozen=True)
class _Series:
    name: str
    start: float
    target: float  # mean-reversion level
    reversion: float  # pull per round towards target
    step: float  # per-round noise
    lo: float
    hi: float
    decimals: int
    jump: float = 0.0  # size of discrete moves (fed funds: 0.25)
    jump_prob: float = 0.0


ECONOMIC_SERIES: tuple[_Series, ...] = (
    _Series("CPI", 310.0, 310.0, 0.0, 0.004, 100.0, 1000.0, 3),
    _Series("unemployment_rate", 4.0, 4.2, 0.0005, 0.004, 2.0, 15.0, 2),
    _Series("fed_funds_rate", 5.25, 5.25, 0.0, 0.0, 0.0, 10.0, 2, jump=0.25, jump_prob=0.002),
    _Series("GDP_growth", 2.0, 2.2, 0.001, 0.01, -10.0, 10.0, 2),
)
CPI_DRIFT = 0.0005  # CPI creeps up a little every round


@dataclass
class _SymbolState:
    symbol: str
    profile: SymbolProfile
    price_rng: random.Random
    side_rng: random.Random
    price: float  # unrounded GBM state = next candle's open
    close: float  # rounded last close (== next open)
    n: int = 0
    last_ts: float | None = None  # the previous candle's timestamp: the market time since it is the next move's
    # Candle n has timestamp t0 + (n - origin_n) * interval (retime() moves t0 and interval).
    t0: float = 0.0
    origin_n: int = 0
    interval: float = 1.0
    sentiment: float = 0.0


@dataclass
class _EconomicState:
    rng: random.Random
    values: dict[str, float] = field(default_factory=dict)


def partition(symbols: Sequence[str], workers: int) -> list[list[str]]:
    """Spread symbols over `workers` groups round robin (symbols[w::workers]); no empty groups."""
    if workers < 1:
        raise ValueError("workers must be >= 1")
    workers = min(workers, len(symbols))
    return [list(symbols[w::workers]) for w in range(workers)]


class MarketSimulator:
    """A deterministic stream of records for `symbols`.

    ``tick(symbol)`` returns the next candle of that symbol (always first) followed by its side
    records; economic releases ride in the ticks of ``clock_symbol`` (default ``symbols[0]``;
    ``None`` disables them; the empty-string default means "the first symbol").  ``sample()`` builds
    one record without touching the streams.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        seed: int,
        start: float,
        interval: float,
        mix: RecordMix = RecordMix(),
        *,
        clock_symbol: str | None = "",
        profiles: Mapping[str, SymbolProfile] | None = None,
        speed: float = MARKET_SPEED,
    ) -> None:
        symbols = list(symbols)
        if not symbols:
            raise ValueError("at least one symbol is required")
        if len(set(symbols)) != len(symbols):
            raise ValueError("symbols must be unique")
        if not (math.isfinite(start) and start >= 0):
            raise ValueError("start must be a finite epoch >= 0")
        if not (math.isfinite(interval) and interval >= MIN_INTERVAL):
            raise ValueError(f"interval must be >= {MIN_INTERVAL} s")
        if not (math.isfinite(speed) and speed > 0):
            raise ValueError("speed must be a finite number > 0")
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.seed = seed
        self.start = float(start)
        self.interval = float(interval)
        self.mix = mix
        self.speed = float(speed)
        self.clock_symbol = self.symbols[0] if clock_symbol == "" else clock_symbol
        if self.clock_symbol is not None and self.clock_symbol not in self.symbols:
            raise ValueError(f"clock_symbol {self.clock_symbol!r} is not one of the symbols")
        profiles = profiles or {}
        self._states: dict[str, _SymbolState] = {}
        for s in self.symbols:
            p = profiles.get(s) or default_profile(s)
            st = _SymbolState(
                symbol=s,
                profile=p,
                price_rng=_rng("price", seed, s),
                side_rng=_rng("side", seed, s),
                price=p.price,
                close=round(p.price, PRICE_DECIMALS),
                t0=self.start,
                interval=self.interval,
            )
            self._states[s] = st
        self._econ = _EconomicState(rng=_rng("economic", seed))
        for series in ECONOMIC_SERIES:
            self._econ.values[series.name] = series.start
        self._sample_rng = _rng("sample", seed)

    # -- public API ---------------------------------------------------------------------------

    @classmethod
    def partitioned(
        cls,
        symbols: Sequence[str],
        workers: int,
        seed: int,
        start: float,
        interval: float,
        mix: RecordMix = RecordMix(),
        *,
        clock_symbol: str | None = "",
        profiles: Mapping[str, SymbolProfile] | None = None,
        speed: float = MARKET_SPEED,
    ) -> list[MarketSimulator]:
        """One simulator per worker; together they yield exactly the streams of
        ``MarketSimulator(symbols, ...)`` (economic releases go with the worker owning the clock symbol)."""
        clock = symbols[0] if clock_symbol == "" else clock_symbol
        return [
            cls(part, seed, start, interval, mix, clock_symbol=clock if clock in part else None, profiles=profiles,
                speed=speed)
            for part in partition(symbols, workers)
        ]

    def profile(self, symbol: str) -> SymbolProfile:
        return self._states[symbol].profile

    def ticks_done(self, symbol: str) -> int:
        return self._states[symbol].n

    def timestamp(self, symbol: str, n: int | None = None) -> float:
        """Timestamp of candle `n` of `symbol` (default: the next one; not before the last retime)."""
        st = self._states[symbol]
        if n is None:
            n = st.n
        return round(st.t0 + (n - st.origin_n) * st.interval, TIMESTAMP_DECIMALS)

    def retime(self, symbol: str, start: float, interval: float) -> None:
        """From the next candle of `symbol` on, timestamps are `start + k * interval` (k = 0, 1, ...):
        the same price path goes on (the next candle opens at the last close, and moves by the market time
        since it), e.g. from a compressed history into real time. `start` must be after the symbol's last candle."""
        st = self._states[symbol]
        if st.n and start <= self.timestamp(symbol, st.n - 1):
            raise ValueError(f"{symbol}: retime to {start} is not after its last candle")
        if not (math.isfinite(interval) and interval >= MIN_INTERVAL):
            raise ValueError(f"interval must be >= {MIN_INTERVAL} s")
        st.t0, st.origin_n, st.interval = float(start), st.n, float(interval)

    def price(self, symbol: str) -> float:
        """Current (last close) price of `symbol`."""
        return self._states[symbol].close

    def tick(self, symbol: str) -> list[dict[str, Any]]:
        """Advance `symbol` by one candle; return [candle, *side records]."""
        st = self._states[symbol]
        ts = self.timestamp(symbol)
        since = st.interval if st.last_ts is None else ts - st.last_ts
        candle = self._candle(st, ts, st.price_rng, market_years(since, self.speed), advance=True)
        st.last_ts = ts
        out = [candle]
        self._side_records(st, ts, out)
        if symbol == self.clock_symbol:
            self._economic(ts, out)
        st.n += 1
        return out

    def ticks(self, symbols: Sequence[str] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Round robin over `symbols` (default: all), forever."""
        order = list(symbols) if symbols is not None else list(self.symbols)
        while True:
            for s in order:
                yield self.tick(s)

    def stream(self, count: int) -> Iterator[list[dict[str, Any]]]:
        """The first `count` ticks of the round robin over all symbols."""
        it = self.ticks()
        for _ in range(count):
            yield next(it)

    def sample(self, timestamp: float | None = None) -> dict[str, Any]:
        """One record of a random type around the current state, for demos (GET /).

        Uses its own random generator and does not mutate any stream state, so calling it never
        changes what ``tick`` produces.  ``timestamp`` defaults to the chosen symbol's next
        candle timestamp.
        """
        rng = self._sample_rng
        st = self._states[rng.choice(self.symbols)]
        ts = self.timestamp(st.symbol) if timestamp is None else round(float(timestamp), TIMESTAMP_DECIMALS)
        m = self.mix
        kinds = ["candle", "order_book", "news_sentiment", "market_data", "economic_indicator"]
        weights = [1.0, m.order_book, m.news, m.market_data, m.economic / len(self.symbols)]
        kind = rng.choices(kinds, weights)[0]
        if kind == "candle":
            return self._candle(st, ts, rng, market_years(st.interval, self.speed), advance=False)
        if kind == "order_book":
            return self._order_book(st, ts, rng.choice(("buy", "sell")), rng)
        if kind == "news_sentiment":
            return self._news(st, ts, st.sentiment, rng)
        if kind == "market_data":
            return self._market_data(st, ts)
        series = rng.choice(ECONOMIC_SERIES)
        return self._economic_record(series, ts, self._econ.values[series.name])

    # -- internals ----------------------------------------------------------------------------

    def _candle(self, st: _SymbolState, ts: float, rng: random.Random, years: float,
                advance: bool) -> dict[str, Any]:
        """The candle at `ts`, `years` of market time after the previous close."""
        p = st.profile
        vol_step = p.sigma * math.sqrt(years)
        s0 = st.price
        z = rng.gauss(0.0, 1.0)
        log_ret = (p.mu - 0.5 * p.sigma * p.sigma) * years + vol_step * z
        s1 = max(MIN_PRICE, s0 * math.exp(log_ret))
        a = math.log(s0)
        b = math.log(s1)
        var = vol_step * vol_step
        d2 = (b - a) * (b - a)
        # Max / min of a Brownian bridge from a to b with variance `var` (inverse-CDF sampling).
        hi_log = 0.5 * (a + b + math.sqrt(d2 - 2.0 * var * math.log(1.0 - rng.random())))
        lo_log = 0.5 * (a + b - math.sqrt(d2 - 2.0 * var * math.log(1.0 - rng.random())))
        open_ = st.close
        close = round(s1, PRICE_DECIMALS)
        if close <= 0:
            close = MIN_PRICE
        high = max(round(math.exp(hi_log), PRICE_DECIMALS), open_, close)
        low = min(round(math.exp(lo_log), PRICE_DECIMALS), open_, close)
        if low <= 0:
            low = min(open_, close)
        # Volume: lognormal noise, busier on bigger moves.
        vol_noise = math.exp(0.4 * rng.gauss(0.0, 1.0))
        volume = int(st.profile.volume * vol_noise * (1.0 + 0.5 * abs(z)))
        if advance:
            st.price = s1
            st.close = close
        return {
            "stock_symbol": st.symbol,
            "opening_price": open_,
            "closing_price": close,
            "high": high,
            "low": low,
            "volume": volume,
            "timestamp": ts,
        }

    def _side_records(self, st: _SymbolState, ts: float, out: list[dict[str, Any]]) -> None:
        rng = st.side_rng
        m = self.mix
        # Sentiment evolves every tick (OU towards 0, plus occasional shocks).
        shock = rng.random() < m.news_shock
        noise = rng.gauss(0.0, 1.0)
        s = st.sentiment * 0.97 + 0.05 * noise
        if shock:
            s += rng.choice((-1.0, 1.0)) * rng.uniform(0.4, 0.9)
        st.sentiment = max(-1.0, min(1.0, s))
        if rng.random() < m.order_book:
            out.append(self._order_book(st, ts, "buy", rng))
            out.append(self._order_book(st, ts, "sell", rng))
        if shock or rng.random() < m.news:
            out.append(self._news(st, ts, st.sentiment, rng))
        if rng.random() < m.market_data:
            out.append(self._market_data(st, ts))

    @staticmethod
    def _order_book(st: _SymbolState, ts: float, side: str, rng: random.Random) -> dict[str, Any]:
        px = st.close
        # Half-spread 1-5 bps plus a few levels of depth (each ~2 bps).
        offset = px * (0.0001 + 0.0004 * rng.random() + 0.0002 * rng.randrange(5))
        if side == "buy":
            price = min(round(px - offset, PRICE_DECIMALS), round(px - PRICE_TICK, PRICE_DECIMALS))
            if price <= 0:
                price = round(px / 2, PRICE_DECIMALS + 2)
        else:
            price = max(round(px + offset, PRICE_DECIMALS), round(px + PRICE_TICK, PRICE_DECIMALS))
        quantity = 100 * rng.randint(1, 50) if rng.random() < 0.7 else rng.randint(1, 99)
        return {
            "data_type": "order_book",
            "timestamp": ts,
            "stock_symbol": st.symbol,
            "order_type": side,
            "price": price,
            "quantity": quantity,
        }

    @staticmethod
    def _news(st: _SymbolState, ts: float, sentiment: float, rng: random.Random) -> dict[str, Any]:
        score = max(-1.0, min(1.0, sentiment + 0.1 * rng.gauss(0.0, 1.0)))
        magnitude = max(0.0, min(1.0, 0.2 + 0.6 * abs(score) + 0.2 * rng.random()))
        return {
            "data_type": "news_sentiment",
            "timestamp": ts,
            "stock_symbol": st.symbol,
            "sentiment_score": round(score, 4),
            "sentiment_magnitude": round(magnitude, 4),
        }

    @staticmethod
    def _market_data(st: _SymbolState, ts: float) -> dict[str, Any]:
        p = st.profile
        return {
            "data_type": "market_data",
            "timestamp": ts,
            "stock_symbol": st.symbol,
            "market_cap": round(st.close * p.shares_outstanding, 2),
            "pe_ratio": round(st.close / p.eps, 4),
        }

    def _economic(self, ts: float, out: list[dict[str, Any]]) -> None:
        rng = self._econ.rng
        values = self._econ.values
        for series in ECONOMIC_SERIES:  # every series moves every round (fixed draws per round)
            v = values[series.name]
            z = rng.gauss(0.0, 1.0)
            u = rng.random()
            v += series.reversion * (series.target - v) + series.step * z
            if series.name == "CPI":
                v += CPI_DRIFT
            if u < series.jump_prob:
                v += series.jump if u < series.jump_prob / 2 else -series.jump
            values[series.name] = min(series.hi, max(series.lo, v))
        release = rng.random() < self.mix.economic
        index = rng.randrange(len(ECONOMIC_SERIES))
        if release:
            series = ECONOMIC_SERIES[index]
            out.append(self._economic_record(series, ts, values[series.name]))

    @staticmethod
    def _economic_record(series: _Series, ts: float, value: float) -> dict[str, Any]:
        return {
            "data_type": "economic_indicator",
            "timestamp": ts,
            "indicator_name": series.name,
            "value": round(value, series.decimals),
        }


def is_candle(record: Mapping[str, object]) -> bool:
    return "data_type" not in record
