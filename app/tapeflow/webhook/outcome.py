"""What the server answers and journals: reason codes, HTTP statuses, the reply and the record.

Codes are machine-readable and stable (a sender's script may branch on them); ``reason`` is for
people. The journal record never holds the secret, the body or anything derived from them except
the keyed alert fingerprint.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class Code(StrEnum):
    """Why a request ended as it did."""

    OK = "ok"
    BAD_JSON = "bad_json"  # the body starts like JSON but is not
    BAD_BODY = "bad_body"  # neither JSON nor key=value text
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"  # wrong type or value; ``field`` names it
    UNAUTHORIZED = "unauthorized"  # missing or wrong secret
    FORBIDDEN = "forbidden"  # address not on the allowlist
    PAYLOAD_TOO_LARGE = "payload_too_large"
    RATE_LIMITED = "rate_limited"
    STALE = "stale"  # alert time too old (or too far ahead)
    DUPLICATE = "duplicate"  # this alert was already executed (or refused)
    UNKNOWN_SYMBOL = "unknown_symbol"
    WRONG_CONTRACT = "wrong_contract"  # the alert names a month the feed does not carry
    NO_POSITION = "no_position"  # add, reverse or breakeven while flat
    INVALID_ORDER = "invalid_order"  # e.g. a limit order without a price
    RISK_REJECTED = "risk_rejected"  # ``rule`` names the limit
    KILL_SWITCH = "kill_switch_latched"
    JOURNAL_UNAVAILABLE = "journal_unavailable"  # the journal refused a write: nothing was executed
    NOT_LIVE = "not_live"  # POST /reconnect on a server without a live venue connection
    RECONNECT_FAILED = "reconnect_failed"  # POST /reconnect: the venue refused or did not answer
    INTERNAL = "internal_error"


HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.BAD_JSON: 400,
    Code.BAD_BODY: 400,
    Code.MISSING_FIELD: 400,
    Code.INVALID_FIELD: 400,
    Code.INVALID_ORDER: 400,
    Code.UNAUTHORIZED: 401,
    Code.FORBIDDEN: 403,
    Code.DUPLICATE: 409,
    Code.NO_POSITION: 409,
    Code.PAYLOAD_TOO_LARGE: 413,
    Code.STALE: 422,
    Code.UNKNOWN_SYMBOL: 422,
    Code.WRONG_CONTRACT: 422,
    Code.RISK_REJECTED: 422,
    Code.KILL_SWITCH: 423,
    Code.RATE_LIMITED: 429,
    Code.JOURNAL_UNAVAILABLE: 503,
    Code.NOT_LIVE: 409,
    Code.RECONNECT_FAILED: 502,
    Code.INTERNAL: 500,
}


class Reply(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The JSON body of every answer to an alert."""

    ok: bool
    code: str
    order_id: int | None = None  # the order placed (buy/sell)
    order_ids: tuple[int, ...] = ()  # orders placed or cancelled (exit, cancel)
    field: str | None = None  # the payload field at fault
    rule: str | None = None  # the risk limit that refused the order
    reason: str = ""
    alert: str | None = None  # the alert id, or ``fp:`` fingerprint, it was known by
    kill_switch_latched: bool | None = None


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Journal record (table ``webhook_requests``) and status-page row of one request."""

    ts_ns: int  # received, wall clock UTC ns
    tape_ns: int  # the account's (tape) clock at that moment
    client: str  # address (after trusted proxies)
    status: int
    code: str
    action: str = ""
    symbol: str = ""
    quantity: int | None = None
    alert: str = ""  # alert id or fingerprint
    strategy: str = ""
    order_id: int | None = None
    order_ids: str = ""  # comma-separated
    rule: str = ""
    reason: str = ""
    field: str = ""
    latency_us: int = 0  # body read to reply built


JOURNAL_TABLE = "webhook_requests"
"""Journal table of :class:`WebhookRequest` records (its columns are declared in ``store.journal.TABLES``)."""
