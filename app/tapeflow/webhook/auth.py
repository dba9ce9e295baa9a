"""Who may talk to the server: the shared secret, the status token and the address allowlist.

The secret itself is checked by :meth:`Secret.matches` (constant time). The status page needs a
credential that can sit in a bookmarked URL on a phone; putting the secret there would leak it into
browser history and proxy logs, so the page takes a *status token* derived from the secret with
HMAC-SHA256: it opens the read-only page and nothing else, and cannot be turned back into the
secret. The secret itself is also accepted, but only in a header, never in a URL.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from hashlib import sha256

from tapeflow.webhook.settings import Secret

SECRET_HEADER = "X-Tapeflow-Secret"
TOKEN_QUERY = "token"
_STATUS_LABEL = b"tapeflow webhook status v1"


def status_token(secret: Secret) -> str:
    """The read-only status credential (32 hex digits) derived from the secret."""
    return hmac.new(secret.key(), _STATUS_LABEL, sha256).hexdigest()[:32]


def status_authorized(secret: Secret, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Secret in ``X-Tapeflow-Secret``, or the status token as ``Bearer`` or ``?token=``."""
    token = status_token(secret)
    header_secret = headers.get(SECRET_HEADER)
    if header_secret is not None and secret.matches(header_secret):
        return True
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip().encode(), token.encode()):
        return True
    q = query.get(TOKEN_QUERY)
    return q is not None and hmac.compare_digest(q.encode("utf-8", "surrogatepass"), token.encode())


class Allowlist:
    """Addresses and networks allowed to place orders; empty allows every address."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(e, strict=False) for e in entries)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def allows(self, address: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Allowlist) -> str:
    """The client's address: the peer, or behind a trusted proxy the last hop it added to
    ``X-Forwarded-For`` (earlier entries are whatever the client claimed and are not trusted)."""
    address = peer or "unknown"
    if forwarded_for and trusted_proxies and trusted_proxies.allows(address):
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        if hops:
            address = hops[-1]
    return address
