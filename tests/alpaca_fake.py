"""A FAKE Alpaca market-data server: it stands in for Alpaca in the tests because no outside network
exists where they run. It is not Alpaca; it speaks the parts of Alpaca's documented market-data API
that the feed uses, as alpaca-py reads and writes them, and the feed reaches it through alpaca-py's
own URL overrides (TICKFLOW_ALPACA_DATA_URL, TICKFLOW_ALPACA_STREAM_URL):

* HTTP: `GET /v2/stocks/bars` and `GET /v1beta3/crypto/us/bars` with `symbols`, `start`, `end` (both
  included, RFC 3339), `limit`, `page_token`; the answer `{"bars": {SYMBOL: [{"t", "o", "h", "l",
  "c", "v", "n", "vw"}, ...]}, "next_page_token": ...}` ordered by symbol then time, at most
  `page_size` bars a page; keys in the `APCA-API-KEY-ID` / `APCA-API-SECRET-KEY` headers (401 otherwise).
  Every request is logged in `requests` (path and query).
* WebSocket: `/v2/{iex,sip}` and `/v1beta3/crypto/us`, msgpack frames each holding a list of
  messages: `[{"T": "success", "msg": "connected"}]` on connect; `{"action": "auth", "key", "secret"}`
  answered `authenticated` or `[{"T": "error", "code": 402, "msg": "auth failed"}]`;
  `{"action": "subscribe", "bars": [...]}` answered with a `subscription` message; then bars as
  `{"T": "b", "S", "o", "h", "l", "c", "v", "t" (msgpack timestamp), "n", "vw"}`.

Controls: `add` puts bars in the history only (what happened while nobody listened), `push` adds
them and streams them to the clients subscribed to their symbol (as Alpaca does when a minute
closes), `drop` closes every socket and refuses new ones until `reopen`; `stall` makes the next bars
requests hang without an answer (until `stall(0)` or the client gives up).
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

import msgpack
from fastapi import FastAPI, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from services.ops import BackgroundServer


@dataclass(frozen=True)
class FakeBar:
    symbol: str
    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int = 1
    vwap: float = 0.0

    def rest(self) -> dict[str, object]:
        return {"t": self.ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "o": self.open, "h": self.high, "l": self.low,
                "c": self.close, "v": self.volume, "n": self.trades, "vw": self.vwap or self.close}

    def streamed(self) -> dict[str, object]:
        return {"T": "b", "S": self.symbol, "o": self.open, "h": self.high, "l": self.low, "c": self.close,
                "v": self.volume, "t": msgpack.Timestamp.from_unix_nano(int(self.ts.timestamp()) * 10**9),
                "n": self.trades, "vw": self.vwap or self.close}


@dataclass
class Client:
    socket: WebSocket
    loop: asyncio.AbstractEventLoop
    bars: set[str] = field(default_factory=set)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(timezone.utc) if value else None


class FakeAlpaca:
    def __init__(self, key: str, secret: str, page_size: int = 1000) -> None:
        self.key, self.secret, self.page_size = key, secret, page_size
        self.history: dict[str, list[FakeBar]] = {}
        self.requests: list[dict[str, str]] = []  # path and query of each bars request, in order
        self.sessions = 0  # WebSocket sessions authenticated and subscribed
        self.clients: list[Client] = []
        self._open = True
        self._stalls = 0  # bars requests still to leave unanswered
        self._lock = threading.Lock()
        self.app = FastAPI(title="FAKE Alpaca market data (tests only)")
        self.app.get("/v2/stocks/bars")(self._bars)
        self.app.get("/v1beta3/crypto/us/bars")(self._bars)
        for path in ("/v2/iex", "/v2/sip", "/v1beta3/crypto/us"):
            self.app.websocket(path)(self._stream)
        self.server: BackgroundServer | None = None

    # -- running -----------------------------------------------------------------------------

    def start(self) -> FakeAlpaca:
        self.server = BackgroundServer(self.app, "127.0.0.1", 0, "fake-alpaca").start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    @property
    def rest_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def stream_url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.port}"

    # -- controls ----------------------------------------------------------------------------

    def add(self, bars: list[FakeBar]) -> None:
        with self._lock:
            for bar in bars:
                self.history.setdefault(bar.symbol, []).append(bar)
                self.history[bar.symbol].sort(key=lambda b: b.ts)

    def push(self, bars: list[FakeBar]) -> int:
        """Add `bars` to the history and stream each to the clients subscribed to its symbol; how many
        clients got at least one."""
        self.add(bars)
        with self._lock:
            clients = list(self.clients)
        reached = 0
        for client in clients:
            mine = [b.streamed() for b in bars if b.symbol in client.bars]
            if mine:
                asyncio.run_coroutine_threadsafe(client.socket.send_bytes(msgpack.packb(mine)), client.loop).result(5)
                reached += 1
        return reached

    def drop(self) -> None:
        """Close every socket (as a network failure would) and refuse new ones until reopen()."""
        with self._lock:
            self._open = False
            clients, self.clients = list(self.clients), []
        for client in clients:
            asyncio.run_coroutine_threadsafe(client.socket.close(code=1011), client.loop).result(5)

    def reopen(self) -> None:
        with self._lock:
            self._open = True

    def stall(self, requests: int) -> None:
        """Leave the next `requests` bars requests unanswered (0: answer every request again)."""
        with self._lock:
            self._stalls = requests

    def subscribed(self, symbol: str) -> bool:
        with self._lock:
            return any(symbol in c.bars for c in self.clients)

    def requests_for(self, symbol: str) -> list[dict[str, str]]:
        return [r for r in self.requests if symbol in r.get("symbols", "").split(",")]

    # -- HTTP --------------------------------------------------------------------------------

    async def _bars(self, request: Request, key: str | None = Header(None, alias="APCA-API-KEY-ID"),
                    secret: str | None = Header(None, alias="APCA-API-SECRET-KEY")) -> JSONResponse:
        query = dict(request.query_params)
        self.requests.append({"path": request.url.path, **query})
        if (key, secret) != (self.key, self.secret):
            return JSONResponse({"message": "forbidden."}, status_code=401)
        with self._lock:
            stalled, self._stalls = self._stalls > 0, max(0, self._stalls - 1)
        while stalled and not await request.is_disconnected():  # took the request and went silent
            await asyncio.sleep(0.05)
        if stalled:
            return JSONResponse({}, status_code=499)  # nobody is listening any more
        start, end = _time(query.get("start")), _time(query.get("end"))
        with self._lock:
            found = [b for s in sorted(query.get("symbols", "").split(",")) for b in self.history.get(s, [])
                     if (start is None or b.ts >= start) and (end is None or b.ts <= end)]
        offset = int(query.get("page_token") or 0)
        size = min(int(query.get("limit") or 10_000), self.page_size)
        page = found[offset:offset + size]
        body: dict[str, dict[str, list[dict[str, object]]]] = {"bars": {}}
        for bar in page:
            body["bars"].setdefault(bar.symbol, []).append(bar.rest())
        more = offset + size < len(found)
        return JSONResponse({**body, "next_page_token": str(offset + size) if more else None})

    # -- WebSocket ---------------------------------------------------------------------------

    async def _stream(self, socket: WebSocket) -> None:
        if not self._open:
            await socket.close(code=1013)  # before accept: the handshake is refused (HTTP 403)
            return
        await socket.accept()
        await socket.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
        client = Client(socket, asyncio.get_running_loop())
        try:
            while True:
                message = msgpack.unpackb(await socket.receive_bytes())
                action = message.get("action")
                if action == "auth":
                    if (message.get("key"), message.get("secret")) != (self.key, self.secret):
                        await socket.send_bytes(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
                        await socket.close()
                        return
                    await socket.send_bytes(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
                elif action == "subscribe":
                    with self._lock:
                        client.bars.update(message.get("bars", []))
                        if client not in self.clients:
                            self.clients.append(client)
                            self.sessions += 1
                    await socket.send_bytes(msgpack.packb([{"T": "subscription", "trades": [], "quotes": [],
                                                            "bars": sorted(client.bars)}]))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            with self._lock:
                if client in self.clients:
                    self.clients.remove(client)
