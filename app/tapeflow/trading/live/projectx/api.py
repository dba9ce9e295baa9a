"""ProjectX Gateway wire format and a thin REST client (aiohttp; no automatic retries, ever).

Every endpoint is a POST with a JSON body answering ``{..., success, errorCode, errorMessage}``;
prices are decimals in the contract's price units, times ISO-8601 UTC. Enums as documented:
order type 1 Limit, 2 Market, 4 Stop, 5 TrailingStop, 6 JoinBid, 7 JoinAsk; side 0 Bid (buy),
1 Ask (sell); order status 0 None, 1 Open, 2 Filled, 3 Cancelled, 4 Expired, 5 Rejected,
6 Pending; position type 1 Long, 2 Short. Rate limit: 200 requests per 60 s on every endpoint
but History/retrieveBars (50 per 30 s).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum
from typing import Any

import aiohttp
import msgspec

from tapeflow.trading.live.projectx import TOPSTEPX_API, TOPSTEPX_USER_HUB
from tapeflow.trading.live.throttle import Throttle

__all__ = ["TOPSTEPX_API", "TOPSTEPX_USER_HUB"]

RATE_LIMIT = (200, 60.0)  # requests, seconds (all endpoints used here)


class PxOrderType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP = 4
    TRAILING_STOP = 5
    JOIN_BID = 6
    JOIN_ASK = 7


class PxSide(IntEnum):
    BID = 0  # buy
    ASK = 1  # sell


class PxOrderStatus(IntEnum):
    NONE = 0
    OPEN = 1
    FILLED = 2
    CANCELLED = 3
    EXPIRED = 4
    REJECTED = 5
    PENDING = 6


class PxPositionType(IntEnum):
    UNDEFINED = 0
    LONG = 1
    SHORT = 2


class _Rec(msgspec.Struct, rename="camel", kw_only=True):
    pass


class PxAccount(_Rec, kw_only=True):
    id: int
    name: str = ""
    balance: Decimal = Decimal(0)
    can_trade: bool = True
    is_visible: bool = True
    simulated: bool = False


class PxContract(_Rec, kw_only=True):
    id: str  # e.g. "CON.F.US.EP.Z25"
    name: str = ""
    description: str = ""
    tick_size: Decimal
    tick_value: Decimal
    active_contract: bool = True
    symbol_id: str = ""  # e.g. "F.US.EP"


class PxOrder(_Rec, kw_only=True):
    id: int
    account_id: int = 0
    contract_id: str
    symbol_id: str | None = None
    creation_timestamp: str = ""
    update_timestamp: str | None = None
    status: int
    type: int
    side: int
    size: int
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    fill_volume: int = 0
    filled_price: Decimal | None = None
    custom_tag: str | None = None


class PxPosition(_Rec, kw_only=True):
    id: int = 0
    account_id: int = 0
    contract_id: str
    creation_timestamp: str = ""
    type: int
    size: int
    average_price: Decimal = Decimal(0)

    @property
    def signed(self) -> int:
        return self.size if self.type == PxPositionType.LONG else -self.size if self.type == PxPositionType.SHORT else 0


class PxTrade(_Rec, kw_only=True):
    id: int
    account_id: int = 0
    contract_id: str
    creation_timestamp: str
    price: Decimal
    profit_and_loss: Decimal | None = None
    fees: Decimal = Decimal(0)
    side: int
    size: int
    voided: bool = False
    order_id: int


def iso(ts_ns: int) -> str:
    """UTC ISO-8601 with microseconds, the gateway's timestamp format."""
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat()


def parse_ts(text: str | None) -> int:
    """UTC ns from the gateway's ISO timestamps (any fraction length, Z or offset); 0 if absent."""
    if not text:
        return 0
    t = text.replace("Z", "+00:00")
    head, dot, rest = t.partition(".")
    if dot:  # Python 3.11 reads at most 6 fraction digits
        digits = "".join(c for c in rest if c.isdigit())
        tz = rest[len(digits):]
        t = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


class VenueRefusedError(Exception):
    """The venue answered and said no (``success: false``): the outcome is known."""

    def __init__(self, path: str, code: int, message: str) -> None:
        super().__init__(f"{path}: {message or 'refused'} (error {code})")
        self.code, self.message = code, message or f"refused (error {code})"


class OutcomeUnknownError(Exception):
    """No answer (timeout, dropped connection, 5xx): the request may or may not have taken effect."""


_enc = msgspec.json.Encoder(decimal_format="number")


class ProjectXClient:
    """REST calls of one session; the token comes from ``login`` (API key) and is never logged."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, throttle: Throttle | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.throttle = throttle or Throttle(*RATE_LIMIT)
        self.token = ""
        self._session: aiohttp.ClientSession | None = None
        self.on_send: Callable[[str], None] | None = None  # called with the path as a request leaves (benchmarks)

    def __repr__(self) -> str:  # no token in logs or tracebacks
        return f"ProjectXClient({self.base_url!r})"

    async def login(self, username: str, api_key: str) -> None:
        r = await self.post("/api/Auth/loginKey", {"userName": username, "apiKey": api_key}, auth=False)
        self.token = str(r.get("token") or "")
        if not self.token:
            raise VenueRefusedError("/api/Auth/loginKey", -1, "login returned no token")

    async def validate(self) -> None:
        """Renew the session token (tokens live 24 h): a reconnect after a long day needs a fresh one."""
        r = await self.post("/api/Auth/validate", {})
        self.token = str(r.get("newToken") or self.token)

    async def post(self, path: str, body: dict[str, Any], *, auth: bool = True) -> dict[str, Any]:
        """One request, sent once. ``VenueRefusedError`` for a no, ``OutcomeUnknownError`` for no answer."""
        await self.throttle.acquire()
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.on_send is not None:
            self.on_send(path)
        try:
            async with self._session.post(self.base_url + path, data=_enc.encode(body), headers=headers) as resp:
                if resp.status >= 500 or resp.status == 429:
                    raise OutcomeUnknownError(f"{path}: HTTP {resp.status}")
                if resp.status >= 400:
                    raise VenueRefusedError(path, resp.status, f"HTTP {resp.status}")
                data = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as e:
            raise OutcomeUnknownError(f"{path}: {type(e).__name__}") from None
        if not isinstance(data, dict):
            raise OutcomeUnknownError(f"{path}: unreadable reply")
        if not data.get("success", False):
            raise VenueRefusedError(path, int(data.get("errorCode") or -1), str(data.get("errorMessage") or ""))
        return data

    async def search_accounts(self) -> list[PxAccount]:
        r = await self.post("/api/Account/search", {"onlyActiveAccounts": True})
        return msgspec.convert(r.get("accounts") or [], list[PxAccount])

    async def search_contracts(self, text: str, live: bool = False) -> list[PxContract]:
        r = await self.post("/api/Contract/search", {"searchText": text, "live": live})
        return msgspec.convert(r.get("contracts") or [], list[PxContract])

    async def open_orders(self, account_id: int) -> list[PxOrder]:
        r = await self.post("/api/Order/searchOpen", {"accountId": account_id})
        return msgspec.convert(r.get("orders") or [], list[PxOrder])

    async def orders_since(self, account_id: int, since_ns: int) -> list[PxOrder]:
        r = await self.post("/api/Order/search", {"accountId": account_id, "startTimestamp": iso(since_ns)})
        return msgspec.convert(r.get("orders") or [], list[PxOrder])

    async def trades_since(self, account_id: int, since_ns: int) -> list[PxTrade]:
        r = await self.post("/api/Trade/search", {"accountId": account_id, "startTimestamp": iso(since_ns)})
        return msgspec.convert(r.get("trades") or [], list[PxTrade])

    async def open_positions(self, account_id: int) -> list[PxPosition]:
        r = await self.post("/api/Position/searchOpen", {"accountId": account_id})
        return msgspec.convert(r.get("positions") or [], list[PxPosition])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
