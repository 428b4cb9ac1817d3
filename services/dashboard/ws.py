"""The WebSocket live updates, /ws: every committed bar and signal in commit order, resumable by event id.

A client may name `after=<event id>` (first it gets what was committed since, from the
`dashboard_feed` table), `symbols` and `kinds`. Then it gets every batch the hub publishes, a
heartbeat after HEARTBEAT_S without one, and at the end a close that says where to resume. Message types are in
docs/dashboard.md ("WebSocket /ws").

What one client may cost is bounded: at most TICKFLOW_DASHBOARD_WS_MAX_CLIENTS at once (the
next is closed with 1013, retry later), a queue of at most `updates.QUEUE_EVENTS` (then "overflow"),
and a client that takes no message for TICKFLOW_DASHBOARD_WS_SEND_TIMEOUT_S is dropped: a send
waits once TICKFLOW_DASHBOARD_WS_BUFFER_BYTES are unsent for it (services/http_guard.py).
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from services.config import Settings
from services.core.symbols import SymbolPolicy
from services.dashboard import updates
from services.http_guard import DROP, UNSENT_BYTES
from services.logs import event

log = logging.getLogger(__name__)

CATCH_UP_PAGE = 2000  # events per dashboard_feed read while a resuming client catches up
HEARTBEAT_S = 15.0
MAX_EVENT_ID = 2**63 - 1  # dashboard_feed.id is a bigint


class SlowClient(Exception):
    """A WebSocket client stopped taking messages; `position` is the last id it surely has."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


def close_reason(text: str) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8."""
    return text.encode()[:123].decode(errors="ignore")


def parse_ws_params(params: dict[str, str],
                    known: SymbolPolicy) -> tuple[int | None, frozenset | None, frozenset | None]:
    unknown = sorted(set(params) - {"after", "symbols", "kinds"})
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; allowed: after, symbols, kinds")
    after = None
    if "after" in params:
        text = params["after"]
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_EVENT_ID:
            raise ValueError(f"after must be an event id (an integer from 0 to {MAX_EVENT_ID}), got {text[:40]!r}")
        after = int(text)
    symbols = None
    if params.get("symbols"):
        symbols = frozenset(s.strip().upper() for s in params["symbols"].split(",") if s.strip())
        if bad := sorted(s for s in symbols if not known.accepts(s)):
            raise ValueError(f"unknown symbol(s) {', '.join(bad)}; {known.describe()}")
    kinds = None
    if params.get("kinds"):
        kinds = frozenset(k.strip() for k in params["kinds"].split(",") if k.strip())
        if bad := sorted(kinds - {"bar", "signal"}):
            raise ValueError(f"unknown kind(s) {', '.join(bad)}; kinds are bar, signal")
    return after, symbols, kinds


async def drain_client(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it disconnects."""
    with suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


def ws_router(settings: Settings, refused: dict[str, int]) -> APIRouter:
    """The /ws route. It counts into `refused` (shown by /metrics) the clients it turns away
    because the cap is reached ("full") and those it drops because they stopped reading ("slow")."""
    known = settings.symbol_policy()
    router = APIRouter()

    @router.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            after, symbols, kinds = parse_ws_params(dict(websocket.query_params), known)
        except ValueError as exc:
            await websocket.send_text(updates.dumps({"type": "error", "detail": str(exc)}))
            await websocket.close(code=1008, reason=close_reason(str(exc)))
            return
        hub: updates.Hub = websocket.app.state.hub
        # From here on every published batch is queued for this client: it counts against the cap
        # before anything else is awaited.
        sub = hub.subscribe(symbols, kinds, most=settings.dashboard_ws_max_clients)
        if sub is None:
            refused["full"] += 1
            await websocket.close(code=1013, reason=close_reason(
                f"{settings.dashboard_ws_max_clients} clients connected, the most this server takes; retry later"))
            return
        try:
            await serve(websocket, sub, hub, after)
        finally:
            hub.unsubscribe(sub)

    async def serve(websocket: WebSocket, sub: updates.Subscriber, hub: updates.Hub, after: int | None) -> None:
        try:
            await asyncio.wait_for(hub.ready.wait(), timeout=10)
        except TimeoutError:
            await websocket.close(code=1013, reason="feed not connected to PostgreSQL yet; retry")
            return
        try:
            await stream(websocket, sub, hub, after)
        except WebSocketDisconnect:
            pass
        except SlowClient as slow:
            refused["slow"] += 1
            await drop(websocket, slow.position)

    async def drop(websocket: WebSocket, position: int) -> None:
        """Drop a client that stopped reading. Its buffers are full: a close frame would wait behind
        them, and closing the connection would wait for them to drain, forever. So the server resets
        it (guarded protocol, services/http_guard.py); elsewhere (tests' in-process client) it gets a
        bounded try at a close frame."""
        extensions = websocket.scope.get("extensions") or {}
        unsent = extensions[UNSENT_BYTES]() if UNSENT_BYTES in extensions else None
        event(log, "WebSocket client dropped: it stopped reading", logging.WARNING, resume_after=position,
              unsent_bytes=unsent, waited_s=settings.dashboard_ws_send_timeout_s)
        if DROP in extensions:
            extensions[DROP]()
            return
        with suppress(Exception):
            await asyncio.wait_for(websocket.close(code=1013, reason=close_reason(
                f"too slow; reconnect with after={position}")), timeout=1.0)

    async def send(websocket: WebSocket, message: str, position: int) -> None:
        """Send, or give up on a client that has not taken anything for the send timeout."""
        try:
            await asyncio.wait_for(websocket.send_text(message), timeout=settings.dashboard_ws_send_timeout_s)
        except TimeoutError:
            raise SlowClient(position) from None

    async def stream(websocket: WebSocket, sub: updates.Subscriber, hub: updates.Hub, after: int | None) -> None:
        head = hub.head or 0
        pos = head
        await send(websocket, updates.dumps({"type": "hello", "head": head, "after": after}), after or head)
        if after is not None:
            pos = await catch_up(websocket, sub, after, head)
        receiver = asyncio.create_task(drain_client(websocket))
        try:
            while True:
                if sub.overflowed and sub.queue.empty():
                    await send(websocket, updates.dumps({"type": "overflow", "last_id": pos}), pos)
                    await websocket.close(code=1013, reason=f"too slow; reconnect with after={pos}")
                    return
                getter = asyncio.ensure_future(sub.queue.get())
                done, _ = await asyncio.wait({getter, receiver}, timeout=HEARTBEAT_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    getter.cancel()
                    return  # the client went away
                if getter not in done:
                    getter.cancel()
                    await send(websocket, updates.dumps({"type": "heartbeat", "last_id": pos}), pos)
                    continue
                batch = getter.result()
                sub.taken(batch)
                if batch.last_id <= pos:
                    continue
                for message in sub.messages_after(batch, pos):
                    await send(websocket, message, pos)
                pos = batch.last_id
        finally:
            receiver.cancel()

    async def catch_up(websocket: WebSocket, sub: updates.Subscriber, after: int, head: int) -> int:
        """Send what was committed in (after, head] from the dashboard_feed table; return the new position."""
        engine = websocket.app.state.reader

        def oldest() -> int | None:
            conn = engine.raw_connection()
            try:
                with conn.cursor() as cur:
                    return updates.oldest_id(cur)
            finally:
                conn.rollback()
                conn.close()

        if after > head:
            await send(websocket, updates.dumps({
                "type": "reset", "reason": f"after={after} is beyond the newest event id {head}", "head": head}), head)
            return head
        first = await run_in_threadpool(oldest)
        if first is not None and after < first - 1:
            await send(websocket, updates.dumps({
                "type": "reset", "head": head,
                "reason": f"events after {after} up to {first - 1} were pruned (retention); reload from REST"}), head)
            return head

        def page(lo: int) -> tuple[list[dict[str, Any]], int]:
            conn = engine.raw_connection()
            try:
                with conn.cursor() as cur:
                    return updates.fetch_events(cur, lo, head, CATCH_UP_PAGE)
            finally:
                conn.rollback()
                conn.close()

        pos = after
        while pos < head:
            events, last = await run_in_threadpool(page, pos)
            for message in updates.event_messages(sub.select(events), last):
                await send(websocket, message, pos)
            pos = last
        return pos

    return router
