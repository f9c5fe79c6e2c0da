"""One client socket, driven by websockets' Sans-I/O protocol: nothing per connection while idle.

websockets' asyncio server keeps, for every connection, a handler task and a keepalive task,
their coroutines, futures and contexts, a message assembler with its queues and a logger
adapter: about 80 Python objects, most of the memory of an idle connection. Here a connection
is an `asyncio.Protocol` holding its transport, its `ServerProtocol` (the frame parser) and the
session above it. A task exists only while a client frame is being handled, a timer only while
a deadline is pending (handshake, authentication, closing handshake), and keepalive pings are
sent by one node-wide sweep (`keepalive`).

Frames to many clients are serialised once and the same bytes written to every socket
(`broadcast`): a server frame is unmasked, so it is identical for every recipient.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol, cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

log = logging.getLogger("realtime.connection")
# One logger for every protocol instance: the library would otherwise resolve one per socket.
_PROTOCOL_LOG = logging.getLogger("websockets.server")
OPEN = State.OPEN
PING_PAYLOAD = b"ka"
INVALID_DATA = 1007  # a text frame that is not UTF-8
INTERNAL_ERROR = 1011  # an unhandled server error, or no pong to a keepalive ping


class ClosedError(Exception):
    """Raised by `Connection.send` once the connection is no longer open."""


class Limits(Protocol):
    """The websockets limits a connection applies (GatewayConfig has them all)."""

    @property
    def max_size(self) -> int: ...
    @property
    def max_queue(self) -> int: ...
    @property
    def write_limit(self) -> int: ...
    @property
    def open_timeout(self) -> float: ...
    @property
    def close_timeout(self) -> float: ...


class Handler(Protocol):
    """What a connection calls above it (the session layer)."""

    def process_request(self, conn: Connection, request: Request) -> Response | None:
        """An HTTP response instead of the WebSocket upgrade (health, metrics, draining)."""

    def opened(self, conn: Connection) -> None:
        """The upgrade is done; the client's first frame follows."""

    def message(self, conn: Connection, raw: str | bytes) -> Coroutine[Any, Any, None]:
        """Handle one client message; messages of a connection are handled one at a time."""

    def closed(self, conn: Connection) -> None:
        """The socket is gone: release what the connection held (once, after `opened`)."""


class Connection(asyncio.Protocol):
    __slots__ = (
        "handler",
        "limits",
        "transport",
        "protocol",
        "session",
        "ping_sent_at",
        "_deadline",
        "_inbox",
        "_worker",
        "_fragments",
        "_binary",
        "_drain",
        "_paused",
        "_opened",
        "_lost",
    )

    def __init__(self, handler: Handler, limits: Limits) -> None:
        self.handler = handler
        self.limits = limits
        self.transport: asyncio.Transport | None = None
        self.protocol = ServerProtocol(max_size=limits.max_size, logger=_PROTOCOL_LOG)
        self.session: Any = None  # what the session layer keeps for this socket
        self.ping_sent_at: float | None = None  # a keepalive ping waiting for its pong
        self._deadline: asyncio.TimerHandle | None = None
        self._inbox: list[str | bytes] = []  # client messages waiting for the worker
        self._worker: asyncio.Task[None] | None = None
        self._fragments: list[bytes] | None = None
        self._binary = False  # the fragmented message being assembled is binary
        self._drain: asyncio.Future[None] | None = None
        self._paused = False
        self._opened = False
        self._lost = False

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=self.limits.write_limit)
        self.set_deadline(self.limits.open_timeout, self.abort)

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self._process()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._process()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self.set_deadline(None)
        if self.protocol.state is not State.CLOSED:
            self.protocol.receive_eof()  # the protocol's state becomes CLOSED
        self._wake_writer()
        if self._worker is not None:
            self._worker.cancel()  # its `finally` tells the handler
        elif self._opened:
            self.handler.closed(self)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writer()

    # --- sending -------------------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.protocol.state is OPEN and not self._lost

    def write(self, message: bytes) -> None:
        """One text frame, now, without waiting: for notices from synchronous code."""
        if self.open:
            assert self.transport is not None
            self.transport.write(text_frame(message))

    async def send(self, message: bytes) -> None:
        """One text frame, then wait while the socket is over its write limit (backpressure)."""
        if not self.open:
            raise ClosedError
        assert self.transport is not None
        self.transport.write(text_frame(message))
        while self._paused and not self._lost:
            # One future for every sender waiting on this socket (the worker, in practice).
            if self._drain is None or self._drain.done():
                self._drain = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._drain)
        if self._lost:
            raise ClosedError

    def close(self, code: int, reason: str) -> None:
        """Start the closing handshake; the socket is dropped if it is not done in time."""
        if self.protocol.state is OPEN:
            self.protocol.send_close(code, reason)
            self._flush()
            self.set_deadline(self.limits.close_timeout, self.abort)
            self._inbox.clear()  # nothing more is handled; read on to see the client's close
            if self.transport is not None:
                self.transport.resume_reading()
        elif self.protocol.state is State.CONNECTING:
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def ping(self, now: float) -> None:
        """A keepalive ping (one node-wide sweep sends them); the pong clears `ping_sent_at`."""
        if self.open:
            self.protocol.send_ping(PING_PAYLOAD)
            self._flush()
            self.ping_sent_at = now

    def fail(self, code: int, reason: str) -> None:
        """Close at once, without waiting for the client's half of the closing handshake."""
        self.protocol.fail(code, reason)
        self._flush()

    def set_deadline(self, seconds: float | None, action: Callable[[], None] | None = None) -> None:
        """Run `action` after `seconds` unless replaced first; None cancels."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if seconds is not None and action is not None and not self._lost:
            self._deadline = asyncio.get_running_loop().call_later(seconds, action)

    # --- receiving -----------------------------------------------------------------------

    def _process(self) -> None:
        for event in self.protocol.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._flush()

    def _handshake(self, request: Request) -> None:
        response = self.handler.process_request(self, request)
        if response is None:
            response = self.protocol.accept(request)
        self.protocol.send_response(response)
        # The protocol's parser keeps the request for the connection's lifetime and never
        # reads it again; its headers (a browser sends kilobytes: cookies, user agent) go.
        request.headers.clear()
        if self.protocol.state is OPEN:
            self.set_deadline(None)
            self._opened = True
            self.handler.opened(self)

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.PONG:
            self.ping_sent_at = None
            return
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            self._binary = opcode is Opcode.BINARY
            if not frame.fin:
                self._fragments = [bytes(frame.data)]
                return
            data = frame.data
        elif opcode is Opcode.CONT and self._fragments is not None:
            self._fragments.append(bytes(frame.data))
            if not frame.fin:
                return
            data, self._fragments = b"".join(self._fragments), None
        else:
            return  # ping (the protocol answers it) and close (the protocol handles it)
        if not self.open:
            return  # closing: nothing more is handled, and reading must go on to see the close
        if self._binary:
            self._inbox.append(bytes(data))  # the session answers binary_unsupported
        else:
            try:
                self._inbox.append(str(data, "utf-8"))
            except UnicodeDecodeError:
                self.protocol.fail(INVALID_DATA, "invalid UTF-8")
                return
        if len(self._inbox) >= self.limits.max_queue and self.transport is not None:
            self.transport.pause_reading()  # the client outpaces its handling: stop reading
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        try:
            while self._inbox and self.open:
                raw = self._inbox.pop(0)
                if len(self._inbox) < self.limits.max_queue and self.transport is not None:
                    self.transport.resume_reading()
                await self.handler.message(self, raw)
        except (ClosedError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("unhandled error handling a client frame")
            self.close(INTERNAL_ERROR, "internal error")
        finally:
            self._worker = None
            if self._inbox:
                self._inbox.clear()
                if self.transport is not None:
                    self.transport.resume_reading()
            if self._lost and self._opened:
                self.handler.closed(self)

    def _flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            else:
                # The protocol's "send EOF": a server closes the TCP connection first.
                transport.close()
        if self.protocol.close_expected() and self._deadline is None and not self._lost:
            self.set_deadline(self.limits.close_timeout, self.abort)

    def _wake_writer(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None


def text_frame(message: bytes) -> bytes:
    """A server (unmasked) text frame: the same bytes for every client."""
    return Frame(Opcode.TEXT, message).serialize(mask=False)


def broadcast(connections: Iterable[Connection], message: bytes) -> None:
    """Frame `message` once and write it to every open connection (no backpressure)."""
    framed = text_frame(message)
    for conn in connections:
        if conn.protocol.state is OPEN and conn.transport is not None:
            conn.transport.write(framed)


def keepalive(connections: Iterable[Connection], now: float, timeout: float) -> None:
    """One sweep: fail connections whose last ping went unanswered for `timeout`, ping the rest.

    The ping payload is fixed and a pong for it clears the wait: pongs carry no identity to check.
    """
    for conn in connections:
        sent = conn.ping_sent_at
        if sent is None:
            conn.ping(now)
        elif now - sent >= timeout:
            conn.fail(INTERNAL_ERROR, "keepalive ping timeout")
