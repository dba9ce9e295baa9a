"""A minimal SignalR client: the JSON hub protocol over one websocket (what ProjectX's hubs speak).

Frames are JSON records each ended by the record separator 0x1E. After the handshake
``{"protocol":"json","version":1}`` the server answers ``{}``; then type 1 frames are invocations
(``target`` + ``arguments``) both ways, type 6 pings keep the connection alive, type 7 closes it.
Only what a user hub needs is here: invoke without a result, receive invocations, ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import websockets

RS = "\x1e"
INVOCATION, PING, CLOSE = 1, 6, 7
HANDSHAKE = json.dumps({"protocol": "json", "version": 1}) + RS

Handler = Callable[[str, list[Any]], None]


class HubError(Exception):
    """The hub refused the handshake or closed with an error."""


def websocket_url(url: str) -> str:
    """The hub's address as a websocket URL (hubs are documented with https://, the socket is wss://)."""
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            return ws + url[len(http):]
    return url


def split_records(data: str | bytes) -> list[dict[str, Any]]:
    """The JSON records in one websocket message."""
    text = data.decode() if isinstance(data, bytes) else data
    return [json.loads(part) for part in text.split(RS) if part]


class HubConnection:
    """One hub connection; ``on_message(target, arguments)`` gets every server invocation."""

    def __init__(self, url: str, on_message: Handler, *, ping_s: float = 15.0) -> None:
        self.url = url
        self.on_message = on_message
        self.ping_s = ping_s
        self._ws: Any = None
        self._pinger: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._ws = await websockets.connect(websocket_url(self.url), max_size=None)
        await self._ws.send(HANDSHAKE)
        reply = split_records(await asyncio.wait_for(self._ws.recv(), 10))
        if not reply or reply[0].get("error"):
            await self._ws.close()
            raise HubError(f"hub handshake refused: {reply[0].get('error') if reply else 'no reply'}")
        self._pinger = asyncio.create_task(self._ping())

    async def invoke(self, target: str, *arguments: Any) -> None:
        """Call a hub method without waiting for a result (a send, no invocation id)."""
        await self._ws.send(json.dumps({"type": INVOCATION, "target": target, "arguments": list(arguments)}) + RS)

    async def run(self) -> None:
        """Dispatch server messages until the socket closes (returns) or the hub closes with an error."""
        try:
            async for message in self._ws:
                for rec in split_records(message):
                    kind = rec.get("type")
                    if kind == INVOCATION:
                        self.on_message(str(rec.get("target", "")), list(rec.get("arguments") or []))
                    elif kind == CLOSE:
                        if rec.get("error"):
                            raise HubError(f"hub closed: {rec['error']}")
                        return
        except websockets.ConnectionClosed:
            return
        finally:
            await self.close()

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()

    async def _ping(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed, asyncio.CancelledError):
            while True:
                await asyncio.sleep(self.ping_s)
                await self._ws.send(json.dumps({"type": PING}) + RS)
