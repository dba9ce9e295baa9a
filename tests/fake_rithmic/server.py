"""A local Rithmic gateway for tests: TLS websocket on 127.0.0.1, Rithmic's framing, Rithmic's messages.

Every frame is a 4-byte big-endian length and a protobuf message, encoded and decoded only with the
message classes that ship in ``async-rithmic`` (its ``TEMPLATES_MAP``), so the real ``RithmicClient``
talks to it exactly as it talks to a Rithmic system. Only the client's SSL context is pointed at the
test CA (``client.ssl_context = server.client_ssl_context()``); nothing in Tapeflow knows the difference.

The base answers what every plant shares: system info (16), login (10), heartbeat (18), logout (12),
and Rithmic's cap on concurrent sessions: a login beyond ``max_sessions`` for the same user and plant
sends ForcedLogout (77) to the oldest such session and closes it. Plant behaviour is registered by the
plant modules beside this one with :meth:`FakeRithmic.on`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import trustme
from async_rithmic.plants.base import TEMPLATES_MAP
from async_rithmic.protocol_buffers import base_pb2
from google.protobuf.message import Message
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

SYSTEM_INFO, LOGIN, LOGOUT, HEARTBEAT, REJECT, FORCED_LOGOUT = 16, 10, 12, 18, 75, 77
TEMPLATE_OF = {cls: tid for tid, cls in TEMPLATES_MAP.items()}

Handler = Callable[["Conn", Message], Awaitable[None]]


def frame(msg: Message) -> bytes:
    """Rithmic framing: 4-byte big-endian length, then the serialized message."""
    body = msg.SerializeToString()
    return len(body).to_bytes(4, "big", signed=True) + body


def decode(buffer: bytes) -> Message:
    """One frame -> the message class its template id names."""
    size = int.from_bytes(buffer[:4], "big", signed=True)
    body = buffer[4:]
    if size != len(body):
        raise ValueError(f"frame says {size} bytes, carries {len(body)}")
    base = base_pb2.Base()
    base.ParseFromString(body)
    msg = TEMPLATES_MAP[base.template_id]()
    msg.ParseFromString(body)
    return msg


def make(cls: type[Message] | int, **fields: Any) -> Message:
    """A message of ``cls`` (or template id) with its template id set and ``fields`` filled in."""
    if isinstance(cls, int):
        cls = TEMPLATES_MAP[cls]
    msg = cls()
    msg.template_id = TEMPLATE_OF[cls]
    for name, value in fields.items():
        if value is None:
            continue
        target = getattr(msg, name)
        if isinstance(value, list | tuple):
            target.extend(value)
        elif isinstance(value, dict):
            for k, v in value.items():
                setattr(target, k, v)
        else:
            setattr(msg, name, value)
    return msg


@dataclass(eq=False)
class Conn:
    """One client websocket: which plant it logged into, as whom, and what it sent."""

    ws: ServerConnection
    server: FakeRithmic
    opened_ns: int = field(default_factory=time.monotonic_ns)
    infra_type: int | None = None  # SysInfraType after login
    user: str = ""
    app_name: str = ""
    app_version: str = ""
    system_name: str = ""
    logged_in: bool = False
    closed: bool = False
    forced_out: bool = False

    async def send(self, msg: Message) -> None:
        if self.closed:
            return
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(frame(msg))

    async def close(self) -> None:
        self.closed = True
        with contextlib.suppress(ConnectionClosed):
            await self.ws.close(1000, "closed by server")


class FakeRithmic:
    """``async with FakeRithmic() as server:``; ``server.url`` is the gateway for ``RithmicClient(url=...)``."""

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        systems: Iterable[str] = ("Rithmic Test",),
        max_sessions: int = 1,
        heartbeat_interval: float = 60.0,
    ) -> None:
        self.users = dict(users or {"trader": "secret"})
        self.systems = list(systems)
        self.max_sessions = max_sessions
        self.heartbeat_interval = heartbeat_interval
        self.conns: list[Conn] = []
        self.received: list[tuple[Conn, Message]] = []
        self.handlers: dict[int, Handler] = {}
        self.hold_logins = False  # True: logins get no answer (a gateway that hangs)
        self._ca = trustme.CA()
        self._cert = self._ca.issue_cert("127.0.0.1", "localhost")
        self._server: Server | None = None
        self.port = 0
        self.on(SYSTEM_INFO, self._system_info)
        self.on(LOGIN, self._login)
        self.on(HEARTBEAT, self._heartbeat)
        self.on(LOGOUT, self._logout)

    # -- life ------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """What the client must trust: the test CA (and nothing else changes on the client side)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ca.configure_trust(ctx)
        return ctx

    async def start(self) -> FakeRithmic:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(ctx)
        self._server = await serve(self._serve, "127.0.0.1", 0, ssl=ctx, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeRithmic:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- plants register here --------------------------------------------------------------------
    def on(self, template_id: int, handler: Handler) -> None:
        """``handler(conn, request)`` answers requests of ``template_id`` (replacing any earlier one)."""
        self.handlers[template_id] = handler

    def live(self, infra_type: int | None = None) -> list[Conn]:
        """Logged-in, open connections (of one plant if given)."""
        return [c for c in self.conns if c.logged_in and not c.closed
                and (infra_type is None or c.infra_type == infra_type)]

    def requests(self, template_id: int) -> list[Message]:
        return [m for _, m in self.received if m.template_id == template_id]

    async def push(self, infra_type: int, msg: Message) -> None:
        """Send ``msg`` to every logged-in connection of that plant."""
        for conn in self.live(infra_type):
            await conn.send(msg)

    async def reply(
        self,
        conn: Conn,
        request: Message,
        response: type[Message] | int,
        rows: Iterable[dict[str, Any]] = (),
        final: dict[str, Any] | None = None,
        rp_code: Iterable[str] = ("0",),
    ) -> None:
        """Answer ``request`` as Rithmic does: each row with ``rq_handler_rp_code`` 0, then a final message
        carrying ``rp_code`` (its fields from ``final``), all echoing the request's ``user_msg``."""
        echo = list(request.user_msg) if hasattr(request, "user_msg") else []
        for row in rows:
            await conn.send(make(response, user_msg=echo, rq_handler_rp_code=["0"], **row))
        await conn.send(make(response, user_msg=echo, rp_code=list(rp_code), **(final or {})))

    async def force_logout(self, conn: Conn) -> None:
        """Rithmic's ForcedLogout (77), then the socket closes."""
        conn.forced_out = True
        await conn.send(make(FORCED_LOGOUT))
        await conn.close()

    async def drop(self, conn: Conn) -> None:
        """An abrupt loss of the connection: no close handshake."""
        conn.closed = True
        conn.ws.transport.abort()

    # -- shared templates ------------------------------------------------------------------------
    async def _system_info(self, conn: Conn, req: Message) -> None:
        await self.reply(conn, req, 17, final={"system_name": self.systems})

    async def _login(self, conn: Conn, req: Message) -> None:
        if self.hold_logins:
            return
        if self.users.get(req.user) != req.password or not req.password:
            await self.reply(conn, req, 11, rp_code=("13", "permission denied"))
            return
        if req.system_name not in self.systems:
            await self.reply(conn, req, 11, rp_code=("13", f"unknown system {req.system_name}"))
            return
        conn.user, conn.app_name, conn.app_version = req.user, req.app_name, req.app_version
        conn.system_name, conn.infra_type = req.system_name, req.infra_type
        same = [c for c in self.live(req.infra_type) if c.user == req.user]
        conn.logged_in = True
        for older in same[: max(0, len(same) + 1 - self.max_sessions)]:
            await self.force_logout(older)
        await self.reply(conn, req, 11, final={
            "heartbeat_interval": self.heartbeat_interval, "fcm_id": "FCM", "ib_id": "IB",
            "unique_user_id": req.user, "template_version": "3.9"})

    async def _heartbeat(self, conn: Conn, req: Message) -> None:
        await conn.send(make(19, user_msg=list(req.user_msg), rp_code=["0"]))

    async def _logout(self, conn: Conn, req: Message) -> None:
        conn.logged_in = False
        await conn.send(make(13, user_msg=list(req.user_msg), rp_code=["0"]))

    # -- the socket ------------------------------------------------------------------------------
    async def _serve(self, ws: ServerConnection) -> None:
        conn = Conn(ws=ws, server=self)
        self.conns.append(conn)
        try:
            async for buffer in ws:
                if isinstance(buffer, str):
                    continue
                try:
                    msg = decode(buffer)
                except Exception as e:  # a malformed frame gets Rithmic's generic Reject
                    await conn.send(make(REJECT, rp_code=["3", f"bad frame: {e}"]))
                    continue
                self.received.append((conn, msg))
                handler = self.handlers.get(msg.template_id)
                if handler is None:
                    await conn.send(make(REJECT, rp_code=["3", f"template {msg.template_id} not served here"]))
                    continue
                if not conn.logged_in and msg.template_id not in (SYSTEM_INFO, LOGIN):
                    await conn.send(make(REJECT, user_msg=list(getattr(msg, "user_msg", [])),
                                         rp_code=["3", "not logged in"]))
                    continue
                await handler(conn, msg)
        except ConnectionClosed:
            pass
        finally:
            conn.closed = True


async def serve_forever(server: FakeRithmic) -> None:  # pragma: no cover - manual use
    async with server:
        print(server.url, flush=True)
        await asyncio.Event().wait()
