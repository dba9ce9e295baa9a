"""Replay protection: stale or future alert times, and alerts already seen.

TradingView may retry, a proxy may repeat, and an attacker who captured one request may send it
again: one alert must never execute twice. An alert is known by its ``id`` or, when the user's
template has none, by a fingerprint of its body and minute. The fingerprint is keyed with the
secret (HMAC), so the journal can show it without offering a body hash to guess the secret from.
An alert is remembered *before* it is executed, so even a crash in between cannot run it twice,
and the memory outlives the process: the server journals each key (:class:`SeenRecord`, table
``webhook_alerts``) before executing it and loads the unexpired ones before its port opens.
Times are UTC ns from the server's wall clock.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

import msgspec

from tapeflow.webhook.settings import Secret

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND


@dataclass(frozen=True, slots=True)
class Seen:
    """What happened to a remembered alert (returned to a duplicate)."""

    order_id: int | None
    code: str


class SeenRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Journal record of a remembered alert key (the latest record of a key is its outcome)."""

    ts_ns: int
    key: str
    expires_ns: int
    code: str
    order_id: int | None = None


SEEN_TABLE = "webhook_alerts"
"""Journal table of :class:`SeenRecord` rows (columns declared in ``store.journal.TABLES``)."""


class ReplayGuard:
    """Freshness window and a bounded, expiring memory of alert keys."""

    def __init__(
        self,
        secret: Secret,
        *,
        max_age_ns: int,
        max_future_ns: int,
        ttl_ns: int,
        capacity: int = 100_000,
    ) -> None:
        self._key = secret.key()
        self.max_age_ns = max_age_ns
        self.max_future_ns = max_future_ns
        self.ttl_ns = ttl_ns
        self.capacity = capacity
        self._seen: OrderedDict[str, tuple[int, Seen]] = OrderedDict()  # key -> (expires, outcome)

    def check_time(self, sent_ns: int, now_ns: int) -> str:
        """Empty if the alert's time is fresh, else why not (shown to the sender)."""
        age = now_ns - sent_ns
        if age > self.max_age_ns:
            return f"alert time is {age / NS_PER_SECOND:.1f} s old (max {self.max_age_ns / NS_PER_SECOND:g} s)"
        if -age > self.max_future_ns:
            return f"alert time is {-age / NS_PER_SECOND:.1f} s in the future (check the clocks)"
        return ""

    def key_for(self, alert_id: str | None, body: bytes, sent_ns: int | None, now_ns: int) -> str:
        """``id:<alert id>``, or ``fp:<keyed hash of body and minute>`` when there is no id."""
        if alert_id is not None:
            return f"id:{alert_id}"
        minute = (sent_ns if sent_ns is not None else now_ns) // NS_PER_MINUTE
        digest = hmac.new(self._key, body + b"|" + str(minute).encode(), sha256).hexdigest()
        return f"fp:{digest[:24]}"

    def seen(self, key: str, now_ns: int) -> Seen | None:
        """The earlier outcome of ``key`` if it is still remembered."""
        self._expire(now_ns)
        hit = self._seen.get(key)
        return hit[1] if hit is not None else None

    def remember(self, key: str, now_ns: int, outcome: Seen, *, expires_ns: int | None = None) -> SeenRecord:
        """Remember (or update the outcome of) ``key`` for ``ttl_ns``; returns the record to journal."""
        if expires_ns is None:
            expires_ns = self._seen[key][0] if key in self._seen else now_ns + self.ttl_ns
        self._seen[key] = (expires_ns, outcome)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return SeenRecord(ts_ns=now_ns, key=key, expires_ns=expires_ns, code=outcome.code, order_id=outcome.order_id)

    def forget(self, key: str) -> None:
        """Drop ``key`` (an alert that was refused before it ran may be sent again)."""
        self._seen.pop(key, None)

    def load(self, rows: Iterable[Mapping[str, Any]], now_ns: int) -> int:
        """Remember the unexpired keys of journaled :class:`SeenRecord` rows (in write order, so a
        key's last row is its outcome); returns how many keys are remembered."""
        for r in rows:
            expires = int(r.get("expires_ns") or 0)
            if expires > now_ns and r.get("key"):
                oid = r.get("order_id")
                self.remember(str(r["key"]), now_ns, Seen(None if oid is None else int(oid), str(r.get("code") or "")),
                              expires_ns=expires)
        return len(self._seen)

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now_ns: int) -> None:
        while self._seen:
            key, (expires, _) = next(iter(self._seen.items()))
            if expires > now_ns:
                break
            del self._seen[key]
