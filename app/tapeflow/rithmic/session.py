"""One Rithmic connection for the whole process: the market-data feed and the broker share it.

Why one: Rithmic caps concurrent sessions per user and plant and force-logs-out the oldest one
past the cap, so a terminal that opened a client for its feed and another for its orders would
knock itself out. :class:`RithmicSession` owns the one ``async_rithmic.RithmicClient`` and logs
into only the plants someone asked for (``open({"ticker"})``, ``open({"order", "pnl"})``, or
both, in any order).

Why our own reconnect layer: the library's per-plant reconnect loop retries forever with its own
timing and re-logs in after a forced logout, which ping-pongs with the other session. Here the
library's loop is never started (each plant gets only its I/O tasks); a watcher per plant waits
for the plant's disconnect signal and:

* a dropped connection -> state RECONNECTING, re-login with :class:`Backoff`, then the plant's
  ``on_plant_up`` hooks (the broker reconciles there), then UP. The market data and depth
  subscriptions made through the session (:meth:`RithmicSession.subscribe_market_data`,
  :meth:`RithmicSession.subscribe_depth`, counted per subscriber) are re-sent at each ticker login;
* a ForcedLogout (template 77: another session logged in with this user) -> state FORCED_OUT and
  no re-login: the user reconnects by hand (:meth:`RithmicSession.reconnect`).

Template 77 is seen on each plant of *this* client through an instance-level wrapper of the
plant's frame reader (nothing in the library's classes is changed, other clients are untouched);
a wrapper of its sender makes a send on a plant that is not logged in fail at once with
:class:`SessionError` (the library would wait up to 60 s for its own reconnect, then re-send).

For the broker: ``session.client`` is the one client (its order and P&L plant methods);
``state.phase``/``state.reason`` and ``is_up(plant)`` say what is up; hooks registered with
``on_plant_up("order", fn)`` before ``open`` run after every login of that plant, the first one
included, before the session says UP.

This module is the one place that uses the library's plant internals (``_connect``,
``_start_io_tasks``, ``_login``, ``_disconnect_event``, ``_send_and_collect``); they are those of
async-rithmic 1.5-1.6 (the version range pinned in ``pyproject.toml``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tapeflow.errors import TapeflowError
from tapeflow.feeds.live_feed import Backoff
from tapeflow.rithmic.settings import RithmicSettings
from tapeflow.rithmic.subscriptions import Subscriptions

log = logging.getLogger(__name__)

PLANTS = ("ticker", "order", "pnl", "history")
"""Plants a session can open, in login order (the P&L plant needs the order plant's accounts)."""
FORCED_LOGOUT = 77
LOGIN_RESPONSE = 11
FORCED_OUT_REASON = "another session logged in with this user"
_SMALL_FRAME = 160  # ForcedLogout and refused logins are small: only frames this small are looked at
_TEMPLATE_TAG = b"\x98\xb6\x4b"  # the protobuf key of ``template_id`` (field 154467, varint)
_WATCHED = (_TEMPLATE_TAG + bytes([FORCED_LOGOUT]), _TEMPLATE_TAG + bytes([LOGIN_RESPONSE]))
"""A frame is decoded only if it holds one of these byte strings (a cheap test on every frame)."""


class Phase(StrEnum):
    CONNECTING = "CONNECTING"
    UP = "UP"
    RECONNECTING = "RECONNECTING"
    FORCED_OUT = "FORCED_OUT"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class SessionState:
    """The session as the user sees it: ``phase`` and a sentence saying why."""

    phase: Phase
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.phase.value}: {self.reason}" if self.reason else self.phase.value


class SessionError(TapeflowError):
    """A plant could not be opened, or the session was forced out / closed."""


class _Redact(logging.Filter):
    """Masks the password in the library's log records: its errors quote the whole login request
    (``Rithmic returned an error=... for the request={... 'password': ...}``) at ERROR level."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secret:
            return True
        text = record.getMessage()
        if self.secret in text:
            record.msg, record.args = text.replace(self.secret, "***"), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info).replace(self.secret, "***")
            record.exc_info = None
        return True


def _login_refusal(frame: bytes) -> str | None:
    """Rithmic's reason if ``frame`` is a refused login response (template 11, rp_code not 0)."""
    from async_rithmic.protocol_buffers import response_login_pb2

    msg = response_login_pb2.ResponseLogin()
    try:
        msg.ParseFromString(frame[4:])
    except Exception:
        return None
    codes = list(msg.rp_code)
    if not codes or codes[0] == "0":
        return None
    return " ".join(codes[1:]) or f"rp_code {codes[0]}"


def watched_template(frame: bytes) -> int | None:
    """The template id of a frame the session watches (ForcedLogout, login response), else None;
    a byte-string test first, so the frames of the market-data stream cost next to nothing."""
    if len(frame) > _SMALL_FRAME or not (_WATCHED[0] in frame or _WATCHED[1] in frame):
        return None
    return _frame_template_id(frame)


def _frame_template_id(frame: bytes) -> int | None:
    """Template id of a small Rithmic frame (4-byte length + protobuf), None if it is not one."""
    from async_rithmic.protocol_buffers import base_pb2

    base = base_pb2.Base()
    try:
        base.ParseFromString(frame[4:])
    except Exception:  # not ours to judge: the library's reader reports garbage
        return None
    return base.template_id


class RithmicSession:
    """One RithmicClient for the whole process; logs into only the plants someone uses.

    ``client_factory()`` (tests) returns the client instead of building one from ``settings``;
    ``ssl_context`` replaces the client's (the library's bundled Rithmic CA) when given.
    Hooks registered with :meth:`on_plant_up` run after every later login of that plant,
    the first one included; register them before :meth:`open`.
    """

    def __init__(self, settings: RithmicSettings, *, user: str, password: str,
                 ssl_context: ssl.SSLContext | None = None, client_factory: Callable[[], Any] | None = None,
                 backoff: Backoff | None = None, login_timeout_s: float = 30.0,
                 rng: Callable[[], float] = random.random) -> None:
        self.settings = settings
        self._password = password
        if client_factory is not None:
            self.client = client_factory()
        else:
            try:
                from async_rithmic import RithmicClient
            except ImportError:
                raise SessionError("the async-rithmic package is not installed: "
                                   "pip install 'tapeflow[rithmic]'") from None
            self.client = RithmicClient(user=user, password=password, system_name=settings.system_name,
                                        app_name=settings.app_name, app_version=settings.app_version,
                                        url=settings.url)
        if ssl_context is not None:
            self.client.ssl_context = ssl_context
        self.backoff = backoff or Backoff(initial_s=0.5, max_s=30.0)
        self.login_timeout_s = login_timeout_s
        self.rng = rng
        self.state = SessionState(Phase.CLOSED, "not opened")
        self.logins: dict[str, int] = {}  # plant -> successful logins (first one included)
        self._wanted: list[str] = []  # plants opened, in login order
        self._up: set[str] = set()
        self._forced: set[str] = set()
        self._errors: dict[str, str] = {}  # plant -> last reconnect error
        self._watchers: dict[str, asyncio.Task] = {}
        self._hooks: dict[str, list[Callable[[], Awaitable[None]]]] = {}
        self._listeners: list[Callable[[SessionState], None]] = []
        self._subs = Subscriptions()  # market data and depth wanted by the feeds on this session
        self._hooked: set[str] = set()
        self._logging_in: set[str] = set()
        self._refusals: dict[str, str] = {}  # plant -> Rithmic's reason for the last refused login
        self._redact = _Redact(password)
        self._redacting = False
        self._closing = False
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ listeners and hooks

    def add_listener(self, fn: Callable[[SessionState], None]) -> None:
        """``fn(state)`` on every state change (called on the event loop; keep it short)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[SessionState], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(fn)

    def on_plant_up(self, plant: str, fn: Callable[[], Awaitable[None]]) -> None:
        """``await fn()`` after every (re)login of ``plant``, before the session says UP again."""
        _check_plants([plant])
        self._hooks.setdefault(plant, []).append(fn)

    def _set_state(self) -> None:
        if self._closing or not self._wanted:
            state = SessionState(Phase.CLOSED, "closed by the user" if self._closing else "not opened")
        elif self._forced:
            state = SessionState(Phase.FORCED_OUT, f"{FORCED_OUT_REASON} ({', '.join(sorted(self._forced))} plant); "
                                                   "reconnect by hand")
        elif all(p in self._up for p in self._wanted):
            state = SessionState(Phase.UP, f"logged in: {', '.join(self._wanted)}")
        elif any(self.logins.get(p) for p in self._wanted if p not in self._up):
            down = [p for p in self._wanted if p not in self._up]
            errs = "; ".join(f"{p}: {self._errors[p]}" for p in down if p in self._errors)
            state = SessionState(Phase.RECONNECTING, f"{', '.join(down)} plant connection lost"
                                 + (f" (last error: {errs})" if errs else ""))
        else:
            down = [p for p in self._wanted if p not in self._up]
            state = SessionState(Phase.CONNECTING, f"logging in: {', '.join(down)}")
        if state == self.state:
            return
        self.state = state
        self._changed.set()
        self._changed = asyncio.Event()
        log.info("rithmic session: %s", state)
        for fn in list(self._listeners):
            try:
                fn(state)
            except Exception:
                log.exception("rithmic session listener failed")

    def is_up(self, plant: str) -> bool:
        """``plant`` is logged in now."""
        return plant in self._up

    async def wait_up(self, timeout_s: float, plants: Iterable[str] | None = None) -> None:
        """Return when ``plants`` (default: every open plant) are logged in; raise
        :class:`SessionError` when one of them is forced out, the session is closed, or after
        ``timeout_s``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            which = self._wanted if plants is None else list(plants)
            if self.state.phase is Phase.CLOSED or any(p not in self._wanted for p in which):
                raise SessionError(f"rithmic session {self.state}")
            if any(p in self._forced for p in which):
                raise SessionError(f"rithmic session {self.state}")
            if all(p in self._up for p in which):
                return
            left = deadline - loop.time()
            if left <= 0:
                raise SessionError(f"rithmic session not up after {timeout_s:g} s ({self.state})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    # ------------------------------------------------------------------ open / close / reconnect

    async def open(self, plants: Iterable[str]) -> None:
        """Log into ``plants`` that are not open yet (those already open are left as they are)."""
        wanted = _check_plants(plants)
        async with self._lock:
            if wanted & self._forced:  # never fight the other session: the user reconnects by hand
                raise SessionError(f"rithmic session {self.state}")
            self._closing = False
            new = [p for p in PLANTS if p in wanted and p not in self._wanted]
            if not new:
                return
            self._wanted = [p for p in PLANTS if p in self._wanted or p in new]
            self._set_state()
            for name in new:
                try:
                    await self._login(name)
                except BaseException:
                    self._wanted.remove(name)
                    self._set_state()
                    raise
                self._watch(name)
                await self._plant_up(name)

    async def reconnect(self) -> None:
        """By hand (after FORCED_OUT, or to cut a backoff short): re-login every plant that is down.
        A failed login raises :class:`SessionError` and leaves that plant retrying with backoff."""
        async with self._lock:
            self._forced.clear()
            for name in self._wanted:
                if name in self._up:
                    continue
                task = self._watchers.pop(name, None)
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                self._set_state()
                try:
                    await self._login(name)
                except SessionError as e:  # not the other session again: retry with backoff from here
                    if name not in self._forced:
                        self._errors[name] = str(e)
                        self.client.plants[name]._disconnect_event.set()
                        self._watch(name)
                    self._set_state()
                    raise
                self._watch(name)
                await self._plant_up(name)

    async def close(self) -> None:
        """Log out of every plant and stop watching; the session can be opened again."""
        async with self._lock:
            self._closing = True
            for task in self._watchers.values():
                task.cancel()
            for task in self._watchers.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._watchers.clear()
            for name in self._wanted:
                plant = self.client.plants[name]
                plant._subscriptions.clear()
                with contextlib.suppress(Exception):
                    await self._stop_plant(plant, logout=True)
            self._up.clear()
            self._forced.clear()
            self._subs.clear()
            self._wanted = []
            self._redact_logs(False)
            self._set_state()

    # ------------------------------------------------------------------ market data and depth (ticker plant)

    async def subscribe_market_data(self, symbol: str, exchange: str, bits: int) -> None:
        """LastTrade/BBO/... updates (``bits``: RequestMarketDataUpdate.UpdateBits) for one more
        subscriber; only bits nobody had are sent. Re-sent by the session after each ticker login."""
        new = self._subs.add_market_data(symbol, exchange, bits)
        if new and self.is_up("ticker"):
            await self._send_subscription(100, symbol, exchange, subscribe=True, update_bits=new)

    async def unsubscribe_market_data(self, symbol: str, exchange: str, bits: int) -> None:
        """One subscriber less; bits nobody wants any more are unsubscribed."""
        gone = self._subs.remove_market_data(symbol, exchange, bits)
        if gone and self.is_up("ticker"):
            await self._send_subscription(100, symbol, exchange, subscribe=False, update_bits=gone)

    async def subscribe_depth(self, symbol: str, exchange: str) -> None:
        """Depth-by-order updates (DepthByOrder, template 160) for the whole book of ``symbol``,
        for one more subscriber. The library's ``subscribe_to_market_depth`` asks for one price
        only; the request without ``depth_price`` covers every price. Re-sent after each login."""
        if self._subs.add_depth(symbol, exchange) and self.is_up("ticker"):
            await self._send_subscription(117, symbol, exchange, subscribe=True)

    async def unsubscribe_depth(self, symbol: str, exchange: str) -> None:
        if self._subs.remove_depth(symbol, exchange) and self.is_up("ticker"):
            await self._send_subscription(117, symbol, exchange, subscribe=False)

    async def depth_snapshot(self, symbol: str, exchange: str) -> list[Any]:
        """Every row of the depth-by-order snapshot (ResponseDepthByOrderSnapshot, template 116):
        one row per price and side with the orders resting there, and the ``sequence_number`` the
        updates continue from. (The library's ``request_market_depth`` returns the first row only.)"""
        plant = self.client.plants["ticker"]
        return list(await plant._send_and_collect(template_id=115, expected_response={"template_id": 116},
                                                  symbol=symbol, exchange=exchange, account_id=None))

    async def _send_subscription(self, template_id: int, symbol: str, exchange: str, *, subscribe: bool,
                                 **fields: Any) -> None:
        """RequestMarketDataUpdate (100) or RequestDepthByOrderUpdates (117); both use 1 subscribe /
        2 unsubscribe in ``request``."""
        await self.client.plants["ticker"]._send_request(template_id=template_id, symbol=symbol, exchange=exchange,
                                                         request=1 if subscribe else 2, **fields)

    # ------------------------------------------------------------------ one plant

    def _scrub(self, text: str) -> str:
        """The library's errors quote the whole request, password included."""
        return text.replace(self._password, "***") if self._password else text

    def _hook_frames(self, name: str, plant: Any) -> None:
        """Instance attributes wrapping this plant's frame reader and sender (the library's classes
        are untouched): a ForcedLogout (77) is known before the close that follows it (the library
        only logs it), a refused login keeps Rithmic's reason, and a send while the plant is down
        fails at once."""
        if name in self._hooked:
            return
        self._hooked.add(name)
        read = plant._recv

        async def recv() -> bytes:
            frame = await read()
            template = watched_template(frame)
            if template is not None:
                if template == FORCED_LOGOUT:
                    log.warning("rithmic %s plant: forced logout (%s)", name, FORCED_OUT_REASON)
                    self._forced.add(name)
                    plant._disconnect_event.set()
                elif template == LOGIN_RESPONSE:
                    refusal = _login_refusal(frame)
                    if refusal is not None:
                        self._refusals[name] = refusal
            return frame

        plant._recv = recv
        send = plant._send

        async def send_when_up(message: bytes, template_id: int | None = None) -> None:
            # Fail fast while the plant is down: the library would wait up to 60 s for its own
            # reconnect, then re-send (an order placed long after the user clicked).
            if name not in self._up and name not in self._logging_in:
                raise SessionError(f"rithmic {name} plant is not logged in ({self.state})")
            await send(message, template_id=template_id)

        plant._send = send_when_up

    async def _login(self, name: str) -> None:
        """Connect and log in one plant with only its I/O tasks (never the library's reconnect loop)."""
        plant = self.client.plants[name]
        self._hook_frames(name, plant)
        self._redact_logs(True)
        self._refusals.pop(name, None)
        await self._stop_plant(plant)
        plant._disconnect_event.clear()
        self._logging_in.add(name)
        try:
            await asyncio.wait_for(plant._connect(), self.login_timeout_s)
            await plant._start_io_tasks()
            await asyncio.wait_for(plant._login(), self.login_timeout_s)
            if name == "ticker":
                for (symbol, exchange), bits in self._subs.market_data().items():
                    await self._send_subscription(100, symbol, exchange, subscribe=True, update_bits=bits)
                for symbol, exchange in self._subs.depth():
                    await self._send_subscription(117, symbol, exchange, subscribe=True)
        except asyncio.CancelledError:
            await self._stop_plant(plant)
            raise
        except Exception as e:
            await self._stop_plant(plant)
            text = self._scrub(str(e) or e.__class__.__name__)
            if name in self._refusals:
                text = f"refused by Rithmic: {self._refusals[name]}"
            elif isinstance(e, TimeoutError):
                text = f"no answer within {self.login_timeout_s:g} s"
            raise SessionError(f"rithmic {name} plant: login failed: {text}") from None
        finally:
            self._logging_in.discard(name)
            plant._reconnected_event.set()  # a send waiting on the library's reconnect fails now
        if name in self._forced:  # the 77 came while logging in
            await self._stop_plant(plant)
            raise SessionError(f"rithmic {name} plant: {FORCED_OUT_REASON}")
        plant._disconnect_event.clear()
        self._up.add(name)
        self._errors.pop(name, None)
        self.logins[name] = self.logins.get(name, 0) + 1

    def _redact_logs(self, on: bool) -> None:
        """Mask the password in the plants' loggers while this session is open."""
        if on == self._redacting:
            return
        self._redacting = on
        for plant in self.client.plants.values():
            logger = getattr(plant, "logger", None)
            if logger is not None:
                (logger.addFilter if on else logger.removeFilter)(self._redact)

    async def _stop_plant(self, plant: Any, *, logout: bool = False) -> None:
        """Close the socket first, then stop the plant's tasks: its reader then ends by itself (on
        Python 3.11 a cancel landing on the reader's 0.1 s ``wait_for`` timeout can be swallowed)."""
        if logout and plant.is_connected:
            await plant._logout()
        if plant.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(plant.ws.close(), 2.0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(plant._stop_background_tasks(), 2.0)

    async def _plant_up(self, name: str) -> None:
        for fn in list(self._hooks.get(name, ())):
            try:
                await fn()
            except Exception:
                log.exception("rithmic %s plant: on_plant_up hook failed", name)
        self._set_state()

    def _watch(self, name: str) -> None:
        self._watchers[name] = asyncio.create_task(self._watch_plant(name), name=f"rithmic {name} watcher")

    async def _watch_plant(self, name: str) -> None:
        plant = self.client.plants[name]
        while True:
            await plant._disconnect_event.wait()
            self._up.discard(name)
            self._set_state()  # RECONNECTING or FORCED_OUT, at once
            await self._stop_plant(plant)
            plant._reconnected_event.set()  # sends waiting on the library's reconnect fail fast
            if name in self._forced:
                return
            attempt = 0
            while True:
                await asyncio.sleep(self.backoff.delay(attempt, self.rng()))
                try:
                    async with self._lock:
                        if name in self._up or self._closing:
                            return
                        await self._login(name)
                        await self._plant_up(name)
                    break
                except SessionError as e:
                    if name in self._forced:
                        self._set_state()
                        return
                    self._errors[name] = str(e)
                    self._set_state()
                    attempt += 1


def _check_plants(plants: Iterable[str]) -> set[str]:
    wanted = set(plants)
    unknown = wanted - set(PLANTS)
    if unknown:
        raise ValueError(f"unknown Rithmic plant {sorted(unknown)[0]!r} (known: {', '.join(PLANTS)})")
    return wanted
