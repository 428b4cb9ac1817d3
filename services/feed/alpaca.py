"""alpaca-py, the official SDK, as the feed's source: historical bars over REST, live bars over the
WebSocket data stream; stocks and crypto (a symbol with '/' is crypto).

The URLs are alpaca-py's own unless TICKFLOW_ALPACA_DATA_URL / TICKFLOW_ALPACA_STREAM_URL override
them (the SDK's `url_override`; the tests point them at a local fake). The keys go to the SDK
only; nothing here logs them.

What alpaca-py does itself, and the feed leaves to it: the REST client retries 429 and 504 three
times, 3 s apart; a `DataStream` whose socket drops (or whose connect or auth fails) reconnects by
itself with capped, jittered exponential backoff (1 s doubling up to 30 s, reset once data flows)
and subscribes again. The feed adds what the SDK does not: retries of the other transient REST
failures (connection errors, 5xx) with services/retry.py, and filling what a drop missed
(services/feed/bars.py).
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable

import requests
from requests import Session

with warnings.catch_warnings():  # alpaca-py's DataStream is built on websockets' deprecated legacy client
    warnings.filterwarnings("ignore", "websockets.legacy is deprecated", DeprecationWarning)
    from alpaca.common.exceptions import APIError
    from alpaca.data.enums import DataFeed
    from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
    from alpaca.data.live import CryptoDataStream, StockDataStream
    from alpaca.data.live.websocket import DataStream
    from alpaca.data.models import Bar
    from alpaca.data.requests import CryptoBarsRequest, StockBarsRequest
    from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

from services.config import Settings
from services.feed.bars import UNIT_SECONDS, Window, is_crypto, split_timeframe

UNITS = dict(zip(UNIT_SECONDS, (TimeFrameUnit.Minute, TimeFrameUnit.Hour, TimeFrameUnit.Day)))
# websockets logs every frame at DEBUG, the auth frame with the secret key among them
QUIET_LOGGERS = ("websockets", "urllib3")


class MissingKeys(ValueError):
    """APCA_API_KEY_ID or APCA_API_SECRET_KEY is not set."""


class Transient(Exception):
    """A historical request that may work when tried again."""


def timeframe_of(name: str) -> TimeFrame:
    amount, unit = split_timeframe(name)
    return TimeFrame(amount, UNITS[unit])


def quiet_sdk_loggers() -> None:
    """Keep third-party DEBUG output (frames, request lines) out of the feed's log at any log level."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))


class TimeoutSession(Session):
    """A requests session whose requests time out: alpaca-py sets no timeout, so a server that accepts
    the connection and never answers would stall the feed for good. The timeout raises a
    requests exception, which `Alpaca.bars` turns into `Transient` (retried with backoff)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: object, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, *args, **kwargs)  # type: ignore[arg-type]


class Alpaca:
    def __init__(self, settings: Settings) -> None:
        key = settings.alpaca_api_key_id.get_secret_value() if settings.alpaca_api_key_id else ""
        secret = settings.alpaca_api_secret_key.get_secret_value() if settings.alpaca_api_secret_key else ""
        if not key or not secret:
            raise MissingKeys("APCA_API_KEY_ID and APCA_API_SECRET_KEY must be set (Alpaca's API keys)")
        self._key, self._secret = key, secret
        data_url = settings.alpaca_data_url.rstrip("/") or None
        self.stock_feed = DataFeed(settings.alpaca_stock_feed)
        self.stream_url = settings.alpaca_stream_url.rstrip("/")
        self.stocks = StockHistoricalDataClient(key, secret, url_override=data_url)
        self.crypto = CryptoHistoricalDataClient(key, secret, url_override=data_url)
        for client in (self.stocks, self.crypto):
            client._session = TimeoutSession(settings.alpaca_timeout_s)  # alpaca-py's own attribute; no setter

    def bars(self, window: Window, timeframe: str, limit: int) -> list[Bar]:
        """Up to `limit` bars of `window`, oldest first (alpaca-py follows the pages). Raises
        `Transient` for what may pass (connection errors, 429 after the SDK's retries, 5xx)."""
        fields = {"symbol_or_symbols": window.symbol, "timeframe": timeframe_of(timeframe), "start": window.start,
                  "end": window.end, "limit": limit}
        try:
            if is_crypto(window.symbol):
                found = self.crypto.get_crypto_bars(CryptoBarsRequest(**fields))
            else:
                found = self.stocks.get_stock_bars(StockBarsRequest(**fields, feed=self.stock_feed))
        except requests.RequestException as exc:
            raise Transient(f"{type(exc).__name__}: {exc}"[:300]) from exc
        except APIError as exc:
            if exc.status_code is not None and (exc.status_code == 429 or exc.status_code >= 500):
                raise Transient(f"HTTP {exc.status_code}: {str(exc)[:200]}") from exc
            raise
        return found.data.get(window.symbol, [])

    def streams(self, symbols: tuple[str, ...], on_bar: Callable[[Bar], Awaitable[None]]) -> list[DataStream]:
        """One data stream per asset class among `symbols`, subscribed to their minute bars (not started)."""
        made: list[DataStream] = []
        stocks = [s for s in symbols if not is_crypto(s)]
        crypto = [s for s in symbols if is_crypto(s)]
        if stocks:
            url = f"{self.stream_url}/v2/{self.stock_feed.value}" if self.stream_url else None
            stream: DataStream = StockDataStream(self._key, self._secret, feed=self.stock_feed, url_override=url)
            stream.subscribe_bars(on_bar, *stocks)
            made.append(stream)
        if crypto:
            url = f"{self.stream_url}/v1beta3/crypto/us" if self.stream_url else None
            stream = CryptoDataStream(self._key, self._secret, url_override=url)
            stream.subscribe_bars(on_bar, *crypto)
            made.append(stream)
        return made


def stream_name(stream: DataStream) -> str:
    return "crypto" if isinstance(stream, CryptoDataStream) else "stocks"


def connected(stream: DataStream) -> bool:
    """Whether the stream is connected and subscribed (alpaca-py keeps this in `_running` and has no
    public accessor)."""
    return bool(getattr(stream, "_running", False))
