"""Webhook server settings, from the ``[webhook]`` table of the trading settings file.

Frozen so that a running server never sees half-edited limits; the secret is wrapped in
:class:`Secret`, whose ``repr`` and ``str`` never show it, so printing or logging a settings object
cannot leak it. The secret comes from ``TAPEFLOW_WEBHOOK_SECRET`` (wins) or the file; there is no
default, and a server without one refuses to start.

Example::

    [webhook]
    secret = "a long random string"     # better: TAPEFLOW_WEBHOOK_SECRET in the environment
    host = "127.0.0.1"                  # bind address; a reverse proxy forwards 443 to it
    port = 8080
    tls_cert = "/etc/tapeflow/fullchain.pem"   # both or neither: serve HTTPS directly
    tls_key = "/etc/tapeflow/privkey.pem"
    max_body_bytes = 4096
    max_age_seconds = 30                # alerts whose `time` is older are refused (stale)
    max_future_seconds = 5              # clock skew allowed for a `time` ahead of ours
    require_time = false                # true: alerts without `time` are refused
    rate_per_second = 5                 # per client address, token bucket
    rate_burst = 20
    allow_tradingview = false           # only TradingView's published sender addresses ...
    allow = ["192.168.1.0/24"]          # ... plus these (addresses or networks)
    trusted_proxies = ["127.0.0.1"]     # read the client address from X-Forwarded-For behind these
    dedup_hours = 24                    # alert ids remembered this long (never executed twice)
    history = 50                        # last alerts shown on the status page
    instruments = ["ES", "MES"]         # `tapeflow webhook` trades these (and its feeds'); see below

``instruments`` adds to the instruments of the feeds (``--feed``, repeatable) and to
``--instrument``: an alert for any other instrument is refused with a 422 saying how to add it.
A micro without its own feed trades on its E-mini's (MES on the ES feed); any other instrument
needs a feed, or the server refuses to start.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tapeflow.core.instruments import INSTRUMENTS
from tapeflow.errors import TapeflowError

SECRET_ENV = "TAPEFLOW_WEBHOOK_SECRET"
MIN_SECRET_LENGTH = 12
"""Shorter secrets are refused: the secret is the only thing between the internet and orders."""

TRADINGVIEW_SENDERS: tuple[str, ...] = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
"""TradingView's published webhook sender addresses (IPv4 only; TradingView sends no IPv6).

Source: TradingView support article 43000529348, "How to configure webhook alerts"
(tradingview.com/support/solutions/43000529348), as read on 2026-07; the article carries no
date of its own. Check it again if alerts start failing with ``forbidden``.
"""


class Secret:
    """The shared webhook secret; compared in constant time, never shown."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value.encode("utf-8")

    def matches(self, candidate: str | bytes | None) -> bool:
        """Constant-time comparison (``hmac.compare_digest``): timing says nothing about the secret."""
        if candidate is None:
            return False
        if isinstance(candidate, str):
            candidate = candidate.encode("utf-8", "surrogatepass")
        return hmac.compare_digest(self._value, candidate)

    def key(self) -> bytes:
        """The raw bytes, for keyed hashes (status token, alert fingerprints) only."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(type(self))


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """How the webhook server listens and what it accepts. Times in seconds, sizes in bytes."""

    secret: Secret | None = None
    host: str = "127.0.0.1"  # loopback by default: exposing it is a deliberate act
    port: int = 8080
    tls_cert: str | None = None  # PEM certificate chain; with tls_key, serve HTTPS
    tls_key: str | None = None
    max_body_bytes: int = 4096  # a TradingView alert is a few hundred bytes
    max_age_seconds: float = 30.0  # stale alert cut-off (TradingView delivers within ~1 s)
    max_future_seconds: float = 5.0  # tolerated clock skew for times ahead of ours
    require_time: bool = False  # relay templates have no time; replays are then caught by id or body hash
    rate_per_second: float = 5.0  # sustained requests per client address
    rate_burst: int = 20  # requests a client may send at once
    allow_tradingview: bool = False  # allowlist TradingView's published senders
    allow: tuple[str, ...] = ()  # more allowed addresses or networks; empty and no preset: anyone
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For names the real client
    dedup_hours: float = 24.0  # how long an alert id (or body fingerprint) is remembered
    dedup_capacity: int = 100_000  # most remembered alerts (oldest forgotten first)
    history: int = 50  # last alerts kept for the status page
    instruments: tuple[str, ...] = ()  # roots `tapeflow webhook` trades besides its feeds'

    @property
    def allowlist(self) -> tuple[str, ...]:
        """Every allowed address/network; empty means no allowlist."""
        return (TRADINGVIEW_SENDERS if self.allow_tradingview else ()) + self.allow

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


MAX_SECONDS = 10 * 365 * 24 * 3600.0
"""Longest time a setting may name (ten years): larger, inf and nan are refused by name."""


def _int(v: Any, where: str, minimum: int = 0, maximum: int = 1_000_000_000) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not minimum <= v <= maximum:
        raise TapeflowError(f"{where}: expected an integer from {minimum} to {maximum}, got {v!r}")
    return v


def _num(v: Any, where: str, maximum: float = MAX_SECONDS) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= maximum:  # nan fails too
        raise TapeflowError(f"{where}: expected a positive number up to {maximum:g}, got {v!r}")
    return float(v)


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise TapeflowError(f"{where}: expected true or false, got {v!r}")
    return v


def _str(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise TapeflowError(f"{where}: expected a non-empty string, got {v!r}")
    return v


def _networks(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise TapeflowError(f"{where}: expected a list of addresses or networks, got {v!r}")
    for i, item in enumerate(v):
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            raise TapeflowError(f"{where}[{i}]: not an IP address or network: {item!r}") from None
    return tuple(str(x) for x in v)


def _roots(v: Any, where: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        raise TapeflowError(f"{where}: expected a list of instruments such as [\"ES\", \"MES\"], got {v!r}")
    out = []
    for i, item in enumerate(v):
        root = item.strip().upper() if isinstance(item, str) else None
        if root not in INSTRUMENTS:
            raise TapeflowError(f"{where}[{i}]: unknown instrument {item!r} (known: {', '.join(INSTRUMENTS)})")
        out.append(root)
    return tuple(dict.fromkeys(out))


_KEYS: dict[str, Any] = {
    "secret": lambda v, w: Secret(_str(v, w)),
    "host": _str,
    "port": lambda v, w: _int(v, w, 0, 65535),
    "tls_cert": _str,
    "tls_key": _str,
    "max_body_bytes": lambda v, w: _int(v, w, 256, 1 << 20),
    "max_age_seconds": _num,
    "max_future_seconds": _num,
    "require_time": _bool,
    "rate_per_second": lambda v, w: _num(v, w, 1_000_000),
    "rate_burst": lambda v, w: _int(v, w, 1, 1_000_000),
    "allow_tradingview": _bool,
    "allow": _networks,
    "trusted_proxies": _networks,
    "dedup_hours": lambda v, w: _num(v, w, MAX_SECONDS / 3600),
    "dedup_capacity": lambda v, w: _int(v, w, 1, 10_000_000),
    "history": lambda v, w: _int(v, w, 1, 10_000),
    "instruments": _roots,
}


def webhook_settings_from_dict(table: dict[str, Any], path: str = "<settings>") -> WebhookSettings:
    """Validate a ``[webhook]`` table; errors name the file and the key (never the secret's value)."""
    if not isinstance(table, dict):
        raise TapeflowError(f"{path}: [webhook] must be a table")
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{path}: [webhook] {key}"
        if key not in _KEYS:
            raise TapeflowError(f"{where}: unknown key (known: {', '.join(_KEYS)})")
        if key == "secret" and not isinstance(value, str):
            raise TapeflowError(f"{where}: expected a string")
        kwargs[key] = _KEYS[key](value, where)
    s = WebhookSettings(**kwargs)
    if (s.tls_cert is None) != (s.tls_key is None):
        raise TapeflowError(f"{path}: [webhook] tls_cert and tls_key go together (set both or neither)")
    return s


def split_settings_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a settings TOML: (the trading part, the ``[webhook]`` table).

    The trading loader refuses sections it does not know, so the webhook table is taken out here.
    """
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TapeflowError(f"{p}: settings file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise TapeflowError(f"{p}: not valid TOML: {e}") from None
    webhook = data.pop("webhook", {})
    return data, webhook


def with_env_secret(settings: WebhookSettings, environ: dict[str, str] | None = None) -> WebhookSettings:
    """``TAPEFLOW_WEBHOOK_SECRET`` (if set and not empty) replaces the file's secret."""
    env = os.environ if environ is None else environ
    value = env.get(SECRET_ENV, "")
    return replace(settings, secret=Secret(value)) if value.strip() else settings


def require_secret(settings: WebhookSettings) -> Secret:
    """The secret, or a user error saying where to put one (the server refuses to start without)."""
    s = settings.secret
    if s is None:
        raise TapeflowError(
            f"no webhook secret: set {SECRET_ENV} or `secret` in the [webhook] table of the settings file"
        )
    if len(s.key()) < MIN_SECRET_LENGTH:
        raise TapeflowError(f"the webhook secret is too short: use at least {MIN_SECRET_LENGTH} characters")
    return s
