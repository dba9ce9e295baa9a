"""The aiohttp server: routes, the order of the checks, replies, journal and history.

Runs on the application's asyncio loop (qasync in the GUI, ``asyncio.run`` headless). After the
body is read, handling an alert is synchronous and short (parse, check, one ``Account`` call), so
the reply goes out in well under TradingView's ~3 s budget and two alerts never interleave.

Order of checks, cheapest and least revealing first: rate limit -> body size -> parse -> secret ->
schema -> allowlist -> time -> duplicate -> symbol/prices -> remember -> execute -> journal.
An address outside the allowlist gets 403 for everything except an authenticated ``kill``: pulling
the kill switch only removes risk, and a phone is rarely on an allowlist. For the same reason an
authenticated ``kill`` is never rate-limited (a limited client's body is read and checked for one).

"Remember" is durable: the alert's key is journaled before it executes, and :meth:`WebhookServer.start`
loads the unexpired keys before the port opens, so an alert never executes twice, restarts
included. When the journal refuses that write the alert is not executed (503
``journal_unavailable``), except a kill, which always runs.

Routes: ``POST /webhook`` (and ``POST /``) for alerts; ``GET /status`` (JSON) and
``GET /status.html`` (page) for the read-only status, see :mod:`tapeflow.webhook.auth`;
``POST /reconnect`` (the secret in the body, as an alert carries it; allowlisted addresses) logs a
live venue back in by hand, the way back from a Rithmic forced logout without a restart.
"""

from __future__ import annotations

import logging
import ssl
import time
import traceback
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path

import msgspec
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from tapeflow.errors import JournalError, TapeflowError
from tapeflow.trading.account import Account
from tapeflow.trading.journal_sink import JournalSink
from tapeflow.webhook.auth import Allowlist, client_address, status_authorized, status_token
from tapeflow.webhook.formats import to_alert
from tapeflow.webhook.outcome import HTTP_STATUS, JOURNAL_TABLE, Code, Reply, WebhookRequest
from tapeflow.webhook.ratelimit import RateLimiter
from tapeflow.webhook.replay_guard import NS_PER_SECOND, SEEN_TABLE, ReplayGuard, Seen
from tapeflow.webhook.routing import CONFIGURE_HINT, execute, prepare
from tapeflow.webhook.schema import Action, Alert, PayloadError, decode_body, take_secret
from tapeflow.webhook.settings import WebhookSettings, require_secret
from tapeflow.webhook.status import build_status, render_html

log = logging.getLogger("tapeflow.webhook")

class _OneLine(logging.Filter):
    """aiohttp logs a body it cannot decode (bad gzip, an unknown Content-Encoding) with a
    traceback; that is client input, so one line naming the error is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(exc).__name__}: {exc}".replace("\n", " ")
            record.args = ()
            record.exc_info = record.exc_text = None
        return True


_HTTP_LOG = logging.getLogger("tapeflow.webhook.http")
_HTTP_LOG.addFilter(_OneLine())

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}


class WebhookServer:
    """TradingView alerts in, orders through ``account`` out; one instance per account."""

    def __init__(
        self,
        account: Account,
        settings: WebhookSettings,
        *,
        journal: JournalSink | None = None,
        instruments: Collection[str] = (),
        hint: str = CONFIGURE_HINT,
        on_request: Callable[[WebhookRequest], None] | None = None,
        wall_ns: Callable[[], int] = time.time_ns,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``instruments``: roots or contracts this account trades (others are ``unknown_symbol``, the
        reply saying how to configure them: ``hint``; empty: all).
        ``on_request`` sees every journaled request (the CLI prints it). Clocks are injectable."""
        self.secret = require_secret(settings)
        self.account = account
        self.settings = settings
        self.journal = journal
        self.instruments = frozenset(instruments)
        self.hint = hint
        self.on_request = on_request
        self.wall_ns = wall_ns
        self.status_token = status_token(self.secret)
        self.allowlist = Allowlist(settings.allowlist)
        self.proxies = Allowlist(settings.trusted_proxies)
        self.limiter = RateLimiter(settings.rate_per_second, settings.rate_burst, clock=monotonic)
        max_age = int(settings.max_age_seconds * NS_PER_SECOND)
        max_future = int(settings.max_future_seconds * NS_PER_SECOND)
        self.guard = ReplayGuard(
            self.secret,
            max_age_ns=max_age,
            max_future_ns=max_future,
            ttl_ns=max(int(settings.dedup_hours * 3600 * NS_PER_SECOND), max_age + max_future),
            capacity=settings.dedup_capacity,
        )
        self.history: deque[WebhookRequest] = deque(maxlen=settings.history)
        self.counts: Counter[str] = Counter()
        self.started_ns = wall_ns()
        self._secret_text = self.secret.key().decode("utf-8", "replace")
        self._limited: set[str] = set()  # clients inside a run of rate-limited requests
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.reconnect: Callable[[], Awaitable[None]] | None = None  # a live venue's manual reconnect
        self.app = self._make_app()

    # -- lifecycle ----------------------------------------------------------------------------
    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes)
        app.router.add_post("/webhook", self._on_alert)
        app.router.add_post("/webhook/{password}", self._on_alert)  # TradersPost-style URL password
        app.router.add_post("/", self._on_alert)
        app.router.add_get("/status", self._on_status)
        app.router.add_get("/status.html", self._on_status)
        app.router.add_post("/reconnect", self._on_reconnect)
        return app

    def load_seen(self) -> int:
        """Remember the alert keys the journal holds that have not expired (before serving)."""
        rows = getattr(self.journal, "rows", None)
        if rows is None:
            return len(self.guard)
        now = self.wall_ns()
        return self.guard.load(rows(SEEN_TABLE, "expires_ns > ?", (now,)), now)

    async def start(self) -> None:
        """Load the remembered alerts, then bind and serve on the running loop (port 0 picks a
        free port: see :attr:`port`)."""
        self.load_seen()
        s = self.settings
        context = _tls_context(s.tls_cert, s.tls_key) if s.tls_cert and s.tls_key else None
        # no access log: it would show ?token= and a TradersPost-style password in the path
        self._runner = web.AppRunner(self.app, access_log=None, logger=_HTTP_LOG)
        await self._runner.setup()
        site = web.TCPSite(self._runner, s.host, s.port, ssl_context=context)
        try:
            await site.start()
        except OSError as e:
            await self._runner.cleanup()
            raise TapeflowError(f"cannot listen on {s.host}:{s.port}: {e.strerror or e}") from None
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """Base URL the server listens on."""
        scheme = "https" if self.settings.tls else "http"
        host = self.settings.host if ":" not in self.settings.host else f"[{self.settings.host}]"
        return f"{scheme}://{host}:{self.port if self.port is not None else self.settings.port}"

    # -- alerts -------------------------------------------------------------------------------
    async def _on_alert(self, request: web.Request) -> web.Response:
        now = self.wall_ns()
        t0 = time.perf_counter_ns()
        client = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.proxies)
        limited = not self.limiter.allow(client)
        limit = self.settings.max_body_bytes
        too_large = Reply(ok=False, code=Code.PAYLOAD_TOO_LARGE, reason=f"body larger than {limit} bytes")
        body: bytes | None = None
        undecodable = False
        if not (request.content_length is not None and request.content_length > limit):
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                body = None
            except RequestPayloadError:  # a Content-Encoding (gzip, deflate) the body does not match
                undecodable = True
        if limited and (body is None or not self._is_kill(body, request.content_type)):
            first = client not in self._limited
            self._limited.add(client)
            reply = Reply(ok=False, code=Code.RATE_LIMITED, reason="too many requests from this address")
            retry = max(1, round(self.limiter.retry_after(client)))
            return self._finish(reply, now, t0, client, journal=first, headers={"Retry-After": str(retry)})
        self._limited.discard(client)
        if undecodable:
            why = "Content-Encoding: the body is not valid compressed data; send it uncompressed"
            reply = Reply(ok=False, code=Code.BAD_BODY, field="Content-Encoding", reason=why)
            return self._finish(reply, now, t0, client, headers={"Connection": "close"})
        if body is None:
            return self._finish(too_large, now, t0, client)
        alert: Alert | None = None
        key = ""
        try:
            password = request.match_info.get("password")
            reply, alert, key = self._handle(body, request.content_type, client, now, password)
        except Exception:
            log.error("webhook: internal error on a request from %s\n%s", client, self._redact(traceback.format_exc()))
            reply = Reply(ok=False, code=Code.INTERNAL, reason="internal error (see the server log)")
        return self._finish(reply, now, t0, client, alert=alert, key=key)

    def _handle(
        self, body: bytes, content_type: str, client: str, now: int, url_secret: str | None = None
    ) -> tuple[Reply, Alert | None, str]:
        restricted = not self.allowlist.allows(client)
        forbidden = Reply(ok=False, code=Code.FORBIDDEN, reason="this address may not place orders")
        try:
            fields = decode_body(body, content_type)
        except PayloadError as e:
            return (forbidden if restricted else _error(e)), None, ""
        candidate = take_secret(fields, url_secret)
        if not isinstance(candidate, str) or not self.secret.matches(candidate):
            if restricted:
                return forbidden, None, ""
            why = "missing secret" if candidate is None else "wrong secret"
            return Reply(ok=False, code=Code.UNAUTHORIZED, reason=why), None, ""
        try:
            alert = to_alert(fields)
        except PayloadError as e:
            return (forbidden if restricted else _error(e)), None, ""
        alert = self._scrub(alert)
        if restricted and alert.action != Action.KILL:
            return forbidden, alert, ""
        if alert.time_ns is None and self.settings.require_time:
            return Reply(ok=False, code=Code.MISSING_FIELD, field="time", reason="time: required"), alert, ""
        if alert.time_ns is not None:
            stale = self.guard.check_time(alert.time_ns, now)
            if stale:
                return Reply(ok=False, code=Code.STALE, field="time", reason=stale), alert, ""
        key = self.guard.key_for(alert.alert_id, body, alert.time_ns, now)
        seen = self.guard.seen(key, now)
        if seen is not None:
            reason = "this alert was already received" + (f" (order {seen.order_id})" if seen.order_id else "")
            return Reply(ok=False, code=Code.DUPLICATE, order_id=seen.order_id, reason=reason, alert=key), alert, key
        try:
            prepared = prepare(alert, self.instruments, self.account, hint=self.hint)
        except PayloadError as e:
            return _error(e), alert, key
        # remembered, durably, before it runs: never twice, even after a crash or restart here
        if not self._remember(key, now, Seen(None, "executing")) and alert.action != Action.KILL:
            self.guard.forget(key)  # not executed: the sender's retry must not be called a duplicate
            why = f"the journal cannot record this alert, so it was not executed: {self.account.journal_error}"
            return Reply(ok=False, code=Code.JOURNAL_UNAVAILABLE, reason=why, alert=key), alert, key
        reply = execute(self.account, prepared, by=f"webhook from {client}")
        self._remember(key, now, Seen(reply.order_id, reply.code))
        return msgspec.structs.replace(reply, alert=key), alert, key

    def _remember(self, key: str, now: int, outcome: Seen) -> bool:
        """Remember ``key`` in memory and in the journal; False when the journal refused it."""
        record = self.guard.remember(key, now, outcome)
        if self.journal is None:
            return True
        try:
            self.journal.write(SEEN_TABLE, record)
        except JournalError as e:
            self.account.journal_error = str(e)
            log.error("webhook: %s", self._redact(str(e)))
            return False
        return True

    def _is_kill(self, body: bytes, content_type: str) -> bool:
        """An authenticated ``kill`` (checked for a rate-limited client: a kill always gets through)."""
        try:
            fields = decode_body(body, content_type)
            candidate = take_secret(fields)
            if not isinstance(candidate, str) or not self.secret.matches(candidate):
                return False
            return to_alert(fields).action == Action.KILL
        except Exception:  # anything else is not a kill; the full path reports it if it comes through
            return False

    def _finish(
        self,
        reply: Reply,
        now: int,
        t0: int,
        client: str,
        *,
        alert: Alert | None = None,
        key: str = "",
        journal: bool = True,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        if reply.reason and self._secret_text in reply.reason:
            reply = msgspec.structs.replace(reply, reason=self._redact(reply.reason))
        status = HTTP_STATUS[Code(reply.code)]
        self.counts[reply.code] += 1
        if journal:
            self._record(reply, status, now, t0, client, alert, key)
        return web.Response(
            body=msgspec.json.encode(reply),
            status=status,
            content_type="application/json",
            headers={"Cache-Control": "no-store", **(headers or {})},
        )

    def _record(
        self, reply: Reply, status: int, now: int, t0: int, client: str, alert: Alert | None, key: str
    ) -> None:
        rec = WebhookRequest(
            ts_ns=now,
            tape_ns=self.account.clock_ns,
            client=client,
            status=status,
            code=reply.code,
            action=str(alert.action) if alert else "",
            symbol=self._redact(alert.symbol) if alert else "",
            quantity=alert.quantity if alert else None,
            alert=self._redact(key),
            strategy=self._redact(alert.strategy) if alert else "",
            order_id=reply.order_id,
            order_ids=",".join(str(i) for i in reply.order_ids),
            rule=reply.rule or "",
            reason=self._redact(reply.reason),
            field=reply.field or "",
            latency_us=(time.perf_counter_ns() - t0) // 1000,
        )
        self.history.append(rec)
        log.info("webhook %s", describe(rec))
        if self.journal is not None:
            try:
                self.journal.write(JOURNAL_TABLE, rec)
            except Exception as e:  # the order (if any) stands; losing the record must not lose the reply
                log.error("webhook: could not journal a request: %s", self._redact(str(e)))
        if self.on_request is not None:
            self.on_request(rec)

    def _scrub(self, alert: Alert) -> Alert:
        """The secret pasted into another field must not reach order tags or the journal."""
        texts = {k: getattr(alert, k) for k in ("symbol", "alert_id", "strategy", "reason")}
        dirty = {k: self._redact(v) for k, v in texts.items() if v and self._secret_text in v}
        return msgspec.structs.replace(alert, **dirty) if dirty else alert

    def _redact(self, text: str) -> str:
        return text.replace(self._secret_text, "***") if self._secret_text and text else text

    # -- reconnect ----------------------------------------------------------------------------
    async def _on_reconnect(self, request: web.Request) -> web.Response:
        """Log the live venue back in (after a forced logout: never automatic, it would knock the
        other session out in turn). The secret as in an alert body; allowlisted addresses only."""
        now, t0, client, limited = self._admit(request)
        if limited is not None:
            return limited
        try:
            candidate = take_secret(decode_body(await request.read(), request.content_type))
        except (PayloadError, web.HTTPException, RequestPayloadError):
            candidate = None
        if not self.allowlist.allows(client):
            reply = Reply(ok=False, code=Code.FORBIDDEN, reason="this address may not reconnect the broker")
        elif not isinstance(candidate, str) or not self.secret.matches(candidate):
            reply = Reply(ok=False, code=Code.UNAUTHORIZED, reason="reconnect needs the secret in the body")
        elif self.reconnect is None:
            reply = Reply(ok=False, code=Code.NOT_LIVE, reason="no live venue connection to reconnect")
        else:
            try:
                await self.reconnect()
                reply = Reply(ok=True, code=Code.OK, reason="reconnected by hand")
            except TapeflowError as e:
                reply = Reply(ok=False, code=Code.RECONNECT_FAILED, reason=f"reconnect failed: {e}")
        return self._finish(reply, now, t0, client)

    # -- status -------------------------------------------------------------------------------
    def _admit(self, request: web.Request) -> tuple[int, int, str, web.Response | None]:
        """Times and client of a request to a route other than alerts, and the reply when the
        client is rate-limited (not journaled) or None."""
        now = self.wall_ns()
        t0 = time.perf_counter_ns()
        client = client_address(request.remote, request.headers.get("X-Forwarded-For"), self.proxies)
        if not self.limiter.allow(client):
            reply = Reply(ok=False, code=Code.RATE_LIMITED, reason="too many requests from this address")
            return now, t0, client, self._finish(reply, now, t0, client, journal=False)
        return now, t0, client, None

    async def _on_status(self, request: web.Request) -> web.Response:
        now, t0, client, limited = self._admit(request)
        if limited is not None:
            return limited
        if not status_authorized(self.secret, request.headers, request.query):
            reply = Reply(ok=False, code=Code.UNAUTHORIZED, reason="status needs the secret header or the status token")
            response = self._finish(reply, now, t0, client)
            response.headers["WWW-Authenticate"] = 'Bearer realm="tapeflow"'
            return response
        doc = build_status(
            self.account.snapshot(),
            self.history,
            self.counts,
            now_ns=now,
            started_ns=self.started_ns,
            instruments=self.instruments,
        )
        if request.path.endswith(".html"):
            return web.Response(text=render_html(doc), content_type="text/html", headers=_SECURITY_HEADERS)
        return web.Response(body=msgspec.json.encode(doc), content_type="application/json", headers=_SECURITY_HEADERS)


def describe(rec: WebhookRequest) -> str:
    """One line per request for the console and the log (never the secret: it is not in ``rec``)."""
    what = " ".join(x for x in (rec.action, rec.symbol, f"x{rec.quantity}" if rec.quantity else "") if x)
    line = f"{rec.client} {what or '-'} -> {rec.status} {rec.code}"
    if rec.order_id is not None and rec.code == Code.OK:
        line += f" order {rec.order_id}"
    if rec.order_ids:
        line += f" orders {rec.order_ids}"
    if rec.rule:
        line += f" [{rec.rule}]"
    if rec.reason:
        line += f": {rec.reason}"
    return line


def _error(e: PayloadError) -> Reply:
    return Reply(ok=False, code=e.code, field=e.field, reason=str(e))


def _tls_context(cert: str, key: str) -> ssl.SSLContext:
    """Server TLS from PEM files; a bad file is a user error naming it."""
    for p in (cert, key):
        if not Path(p).is_file():
            raise TapeflowError(f"{p}: TLS file not found")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as e:
        raise TapeflowError(f"{cert} / {key}: cannot load the TLS certificate and key: {e}") from None
    return ctx
