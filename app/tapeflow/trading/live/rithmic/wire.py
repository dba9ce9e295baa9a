"""Commands to a Rithmic plant, sent exactly once and answered by their ``user_msg``.

async-rithmic's own request path is unsafe for orders: on a timeout it sends modify, cancel,
cancel-all and exit-position again (three tries), and when the socket closes under a send it waits
for its reconnect and sends the same frame again (a second order). It also drops the refusal's
text (``rp_code``) of a failed request. Here a command goes on the wire once, from the caller's task
(so its frame is written before the caller gets control back), and its answers are picked out of
the plant's inbound stream by the ``user_msg`` it carries; no answer is an unknown outcome the
caller resolves by looking the order up (its ``user_tag``), never by sending again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State


class VenueRefusedError(Exception):
    """The plant answered with a non-zero ``rp_code``: nothing happened; ``text`` says why."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{text} (rp_code {code})" if text else f"rp_code {code}")
        self.code, self.text = code, text or f"refused (rp_code {code})"


class NotSentError(Exception):
    """The plant was not connected: the command never left (safe to report as refused)."""


class OutcomeUnknownError(Exception):
    """Sent, no answer (timeout, or the socket closed under it): the venue may or may not have it."""


class _Pending:
    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.done = asyncio.Event()


class Wire:
    """One per broker; ``await request(plant, template_id, **fields)`` -> the answer's messages."""

    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self._waiting: dict[str, _Pending] = {}
        self.sent_hook: Callable[[int], None] = lambda template_id: None  # benchmarks: frame written

    async def request(self, plant: Any, template_id: int, *, timeout_s: float | None = None,
                      **fields: Any) -> list[Any]:
        self._tap(plant)
        rid = uuid.uuid4().hex
        buffer = plant._convert_request_to_bytes(plant._build_request(template_id=template_id, user_msg=rid,
                                                                      **fields))
        ws = plant.ws
        if ws is None or ws.state is not State.OPEN:
            raise NotSentError(f"{plant.plant_type} plant not connected")
        pending = self._waiting[rid] = _Pending()
        try:
            try:
                async with plant.lock:  # the library's send lock: heartbeats share the socket
                    await ws.send(buffer)
            except ConnectionClosed as e:
                raise OutcomeUnknownError(f"connection closed while sending ({e})") from None
            self.sent_hook(template_id)
            try:
                await asyncio.wait_for(pending.done.wait(), timeout_s or self.timeout_s)
            except TimeoutError:
                raise OutcomeUnknownError(f"no answer in {timeout_s or self.timeout_s:g} s") from None
        finally:
            self._waiting.pop(rid, None)
        if not pending.rows:
            raise OutcomeUnknownError("the connection went down before the answer")
        last = pending.rows[-1]
        code = list(last.rp_code)
        if code and code[0] != "0":
            raise VenueRefusedError(code[0], " ".join(code[1:]))
        return pending.rows

    def _tap(self, plant: Any) -> None:
        """Route answers carrying one of our ``user_msg`` ids here, ahead of the library's reader
        (installed on this plant instance once; the library's classes are untouched)."""
        if getattr(plant, "_tapeflow_wire", None) is self:
            return
        inner: Callable[[Any], Awaitable[Any]] = plant._process_response

        async def process(response: Any) -> Any:
            ids = getattr(response, "user_msg", None)
            pending = self._waiting.get(ids[0]) if ids else None
            if pending is None:
                return await inner(response)
            pending.rows.append(response)
            if len(response.rp_code):
                pending.done.set()
            return True

        plant._process_response = process
        plant._tapeflow_wire = self

    def fail_all(self) -> None:
        """The connection is gone: every command waiting for an answer ends unknown now."""
        for pending in list(self._waiting.values()):
            pending.done.set()
