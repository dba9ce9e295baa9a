"""Nanosecond timestamps to and from text, and bar-duration strings."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tapeflow.errors import TapeflowError

NS_PER_SECOND = 1_000_000_000
_ISO_RE = re.compile(r"^(.*?T?\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$")
_DURATION_UNITS = {"s": NS_PER_SECOND, "m": 60 * NS_PER_SECOND, "h": 3600 * NS_PER_SECOND}


def ns_to_iso(ts_ns: int) -> str:
    """UTC ns to ISO-8601 with nanoseconds and a ``Z`` suffix."""
    secs, nanos = divmod(int(ts_ns), NS_PER_SECOND)
    base = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def iso_to_ns(text: str) -> int:
    """ISO-8601 (``Z`` or offset; naive means UTC) to UTC ns, keeping up to 9 fractional digits."""
    m = _ISO_RE.match(text.strip().replace(" ", "T"))
    if not m:
        raise TapeflowError(f"not an ISO-8601 time: {text!r}")
    head, frac, tz = m.groups()
    try:
        dt = datetime.fromisoformat(head + ("+00:00" if tz in (None, "Z") else tz))
    except ValueError as e:
        raise TapeflowError(f"not an ISO-8601 time: {text!r}") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    nanos = int((frac or "0").ljust(9, "0"))
    return int(dt.timestamp()) * NS_PER_SECOND + nanos


def parse_duration_ns(text: str) -> int:
    """``30s``, ``1m``, ``5m``, ``1h`` to nanoseconds."""
    m = re.fullmatch(r"\s*(\d+)\s*([smh])\s*", text.lower())
    if not m or int(m[1]) == 0:
        raise TapeflowError(f"bad duration {text!r} (expected e.g. 30s, 1m, 5m, 1h)")
    return int(m[1]) * _DURATION_UNITS[m[2]]
