"""Rule filters: session (RTH/ETH), US/Eastern time windows, news blackouts, bar volume, side, kind.

Windows are wall-clock ET (``"09:30-11:30"``; a window that ends before it starts runs past
midnight). They are turned into UTC ns intervals once per calendar day (``zoneinfo``, DST
correct) and cached, so a check is a couple of comparisons.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from tapeflow.core.events import Side
from tapeflow.core.sessions import EASTERN, NS_PER_DAY, NS_PER_SECOND, et_to_ns, session_of
from tapeflow.signals.api import Hit

SESSIONS = ("any", "rth", "eth")
_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(text: str) -> tuple[time, time]:
    """``"09:30-11:30"`` to (start, end) ET wall-clock times; raises ValueError."""
    m = _WINDOW_RE.match(text)
    if not m:
        raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"not a time of day in {text!r}")
    end = time(0, 0) if h2 == 24 else time(h2, m2)
    return time(h1, m1), end


@dataclass(frozen=True, slots=True)
class NewsWindow:
    """A scheduled release: no signals from ``before_s`` before to ``after_s`` after ``at_ns`` (UTC ns)."""

    at_ns: int
    before_s: int = 120
    after_s: int = 300
    label: str = ""

    @property
    def span(self) -> tuple[int, int]:
        return self.at_ns - self.before_s * NS_PER_SECOND, self.at_ns + self.after_s * NS_PER_SECOND


def et_naive_to_ns(dt: datetime) -> int:
    """A naive datetime read as US/Eastern (an aware one as itself) to UTC ns."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=EASTERN)
    return int(dt.timestamp()) * NS_PER_SECOND + dt.microsecond * 1000


@dataclass(frozen=True)
class Filters:
    """Every filter of one rule. Defaults let everything through."""

    session: str = "any"  # any | rth (09:30-16:00 ET) | eth (the rest of the Globex session)
    windows: tuple[tuple[time, time], ...] = ()  # ET wall clock; empty = all day
    news: tuple[NewsWindow, ...] = ()  # blackouts (from the rules file's [[news]] list)
    min_bar_volume: int = 0  # contracts of the bar a bar-close signal refers to
    sides: tuple[Side, ...] = (Side.BUY, Side.SELL, Side.NONE)
    kinds: tuple[str, ...] = ()  # signal kinds accepted (e.g. only "stacked_imbalance_retest"); empty = all
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def passes(self, hit: Hit) -> bool:
        """True when the hit survives every filter."""
        if hit.side not in self.sides:
            return False
        if self.kinds and hit.kind not in self.kinds:
            return False
        if self.min_bar_volume and hit.bar_volume is not None and hit.bar_volume < self.min_bar_volume:
            return False
        ts = hit.ts_ns
        if self.session != "any":
            rth = session_of(ts).is_rth(ts)
            if rth != (self.session == "rth"):
                return False
        if self.windows and not _inside(self._day_windows(ts // NS_PER_DAY), ts):
            return False
        return not (self.news and any(a <= ts <= b for a, b in (n.span for n in self.news)))

    def _day_windows(self, utc_day: int) -> list[int]:
        """Flat sorted [start, end, start, end, ...] UTC ns of every window touching that UTC day."""
        got = self._cache.get(utc_day)
        if got is None:
            d0 = date(1970, 1, 1) + timedelta(days=utc_day)
            spans = []
            for d in (d0 - timedelta(days=1), d0, d0 + timedelta(days=1)):
                for start, end in self.windows:
                    a = et_to_ns(d, start)
                    b = et_to_ns(d + timedelta(days=1) if end <= start else d, end)
                    spans.append((a, b))
            flat: list[int] = []
            for a, b in sorted(spans):
                if flat and a <= flat[-1]:
                    flat[-1] = max(flat[-1], b)
                else:
                    flat += [a, b]
            got = self._cache[utc_day] = flat
        return got


def _inside(flat: list[int], ts: int) -> bool:
    """``ts`` in one of the half-open [start, end) intervals of ``flat``."""
    return bisect_right(flat, ts) % 2 == 1
