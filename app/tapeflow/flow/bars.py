"""Bar specifications: time, tick-count and volume bars.

Rules shared by the batch and the streaming builders (they must produce identical bars):
- Time bars start on multiples of the bar size since the Unix epoch (UTC), so 1m and 5m bars
  align with the clock; bars are built on exchange time (``ts_event``). Time never runs
  backwards inside a bar series: a trade stamped earlier than the open bar joins the open bar.
- Tick bars hold exactly N prints; volume bars exactly N contracts, a print that straddles the
  boundary is split across the two bars (each part counts as a print in its bar).
- Tick and volume bars restart at every session boundary (CME Globex session, ``core.sessions``),
  so a bar never mixes the evening of one trading date with the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tapeflow.core.timeutil import parse_duration_ns
from tapeflow.errors import TapeflowError


class BarKind(StrEnum):
    TIME = "time"
    TICK = "tick"
    VOLUME = "volume"


@dataclass(frozen=True, slots=True)
class BarSpec:
    """How trades are grouped into bars. ``size``: ns for time bars, prints or contracts otherwise."""

    kind: BarKind
    size: int

    def __post_init__(self) -> None:
        if self.size <= 0:
            raise TapeflowError(f"bar size must be positive, got {self.size}")

    @property
    def label(self) -> str:
        if self.kind is BarKind.TIME:
            secs = self.size // 1_000_000_000
            if secs % 3600 == 0:
                return f"{secs // 3600}h"
            return f"{secs // 60}m" if secs % 60 == 0 else f"{secs}s"
        return f"{self.size}{'t' if self.kind is BarKind.TICK else 'v'}"


def parse_bar_spec(text: str) -> BarSpec:
    """``1m``, ``5m``, ``30s``, ``1h`` (time); ``500t`` (ticks); ``1000v`` (volume)."""
    t = text.strip().lower()
    m = re.fullmatch(r"(\d+)\s*(t|tick|ticks|v|vol|volume)", t)
    if m:
        kind = BarKind.TICK if m[2].startswith("t") else BarKind.VOLUME
        return BarSpec(kind, int(m[1]))
    try:
        return BarSpec(BarKind.TIME, parse_duration_ns(t))
    except TapeflowError:
        raise TapeflowError(
            f"bad bar size {text!r} (expected e.g. 1m, 5m, 30s for time, 500t for ticks, 1000v for volume)"
        ) from None
