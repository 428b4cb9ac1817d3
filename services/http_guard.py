"""What one HTTP or WebSocket client may hold on a Tickflow server: one setup for every uvicorn.

Every service's HTTP server (ingest, the dashboard, the generator's and the operations ports) runs
uvicorn with `server_options(settings)`, which puts these protocols in place of uvicorn's own:

- `GuardedHttpProtocol` (uvicorn's httptools protocol) answers a request target longer than
  TICKFLOW_HTTP_MAX_URL_BYTES with 414, and a request whose line and headers are not complete
  TICKFLOW_HTTP_HEADER_TIMEOUT_S after it began (or after the connection opened) with 408; both then
  close. uvicorn has neither: its parser reads any URL, and only idle keep-alive connections time out.
- `GuardedWebSocketProtocol` (uvicorn's websockets protocol) holds at most
  TICKFLOW_DASHBOARD_WS_BUFFER_BYTES unsent for a client: a fixed kernel send buffer (Linux grows it
  to 4 MB by itself, so a client that never read kept sends "completing") and a write buffer bound,
  past which a send waits, so a client that stops reading makes the dashboard's sends wait and is
  dropped after its send timeout. It tells the app (scope extension UNSENT_BYTES) how many bytes the
  client has not taken, and lets it drop one (DROP): a close frame cannot get through a full buffer,
  and closing would wait for that buffer to drain, forever.
  When the websockets library refuses a handshake itself (a request line or a header line over its
  8192 bytes) it sends the library's answer (414 / 431) and closes: uvicorn's own protocol did
  neither, so a /ws upgrade with a URL of 8 KB or more hung.

The protocols read their limits from the process's settings (`get_settings()`, the TICKFLOW_*
environment): uvicorn makes them itself, in ingest's worker processes too.
"""
from __future__ import annotations

import asyncio
import fcntl
import socket
import struct
import termios
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from services.config import Settings, get_settings

UNSENT_BYTES = "tickflow.unsent_bytes"  # scope extension: () -> bytes written for the client, not yet taken
DROP = "tickflow.drop"  # scope extension: () -> None, reset the connection at once
WS_PING_INTERVAL_S = 20.0  # uvicorn's default: a ping costs a few bytes; its answer is due within the send timeout


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.run / uvicorn.Config keyword arguments that put the guarded protocols in place."""
    return {
        "http": f"{__name__}:GuardedHttpProtocol",
        "ws": f"{__name__}:GuardedWebSocketProtocol",
        "ws_ping_interval": WS_PING_INTERVAL_S,
        # A client that has not answered a ping within the send timeout is not taking messages
        # either: the same rule as a send that waits (ws.py), for live updates too quiet to fill buffers.
        "ws_ping_timeout": settings.dashboard_ws_send_timeout_s,
    }


class RequestRefused(Exception):
    """Raised in a parser callback: answer `status` with `detail` and close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bound on the request target and a header deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.max_url_bytes = settings.http_max_url_bytes
        self.header_timeout_s = settings.http_header_timeout_s
        self.header_deadline: asyncio.TimerHandle | None = None
        self.refusal: RequestRefused | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(cast(asyncio.Transport, transport))
        self.start_header_clock()  # a connection that sends nothing is an unfinished request too

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_header_clock()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_deadline is None:  # the next request on a kept-alive connection
            self.start_header_clock()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_url_bytes:
            # httptools turns this into an HttpParserError, which uvicorn answers with send_400_response.
            self.refusal = RequestRefused(414, f"the request target is longer than {self.max_url_bytes} bytes")
            raise self.refusal

    def on_headers_complete(self) -> None:
        self.stop_header_clock()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        refusal, self.refusal = self.refusal, None
        if refusal is None:
            super().send_400_response(msg)
        else:
            self.answer_and_close(refusal.status, refusal.detail)

    def start_header_clock(self) -> None:
        self.header_deadline = self.loop.call_later(self.header_timeout_s, self.headers_timed_out)

    def stop_header_clock(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def headers_timed_out(self) -> None:
        self.header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.start_header_clock()  # a pipelined request waits for our answer, not the client
            return
        self.answer_and_close(408, f"the request line and headers did not arrive within {self.header_timeout_s:g} s")

    def answer_and_close(self, status: int, detail: str) -> None:
        """A plain-text answer, then close: the connection's request was not read to its end."""
        body = detail.encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [b"content-type: text/plain; charset=utf-8\r\n",
                 b"content-length: ", str(len(body)).encode(), b"\r\n", b"connection: close\r\n\r\n"]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets protocol holding at most TICKFLOW_DASHBOARD_WS_BUFFER_BYTES unsent per client."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        bound = get_settings().dashboard_ws_buffer_bytes
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Half of the bound in the kernel (Linux doubles what is set, for its bookkeeping; a set
            # size also stops it growing the buffer to tcp_wmem's 4 MB), half in the write buffer.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, bound // 4)
        self.transport.set_write_buffer_limits(high=bound // 2)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            # The websockets library refused the handshake (a request line or header line over its
            # 8192 bytes: 414 / 431) and wrote its answer; uvicorn sends only after a parsed request,
            # so the client heard nothing and the connection hung. Send the answer and close.
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()

    def handle_connect(self, request: Request) -> None:
        super().handle_connect(request)
        scope = getattr(self, "scope", None)  # made (and the app started) only for an accepted handshake
        if scope is not None:
            scope["extensions"].update({UNSENT_BYTES: self.unsent_bytes, DROP: self.drop})

    def unsent_bytes(self) -> int:
        """Bytes written for the client that it has not acknowledged: our write buffer and the kernel's queue."""
        buffered = self.transport.get_write_buffer_size()
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return buffered
        queued = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))  # SIOCOUTQ on a socket
        unacknowledged: int = struct.unpack("i", queued)[0]
        return buffered + unacknowledged

    def drop(self) -> None:
        self.transport.abort()
