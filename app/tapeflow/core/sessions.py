"""CME Globex trading sessions for equity-index futures, in US/Eastern.

ETH runs 18:00 ET to 17:00 ET the next day (Sunday evening to Friday afternoon) with a daily halt
from 17:00 to 18:00; RTH is 09:30 to 16:00 ET. A session is named by its *trading date*: the
calendar date (ET) on which it closes, so Sunday 18:00 opens Monday's session.

Times are converted from ET once per day (``zoneinfo``, DST correct) into UTC nanosecond
boundaries; per-event work is then a ``searchsorted`` over those boundaries, never a time-zone
conversion per event. Exchange holidays are not modelled: a holiday simply has no trades.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

EASTERN = ZoneInfo("America/New_York")
NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND


@dataclass(frozen=True, slots=True)
class SessionTimes:
    """Session schedule in ET wall-clock time."""

    eth_open: time = time(18, 0)  # previous calendar day
    rth_open: time = time(9, 30)
    rth_close: time = time(16, 0)
    eth_close: time = time(17, 0)


CME_EQUITY = SessionTimes()


def et_to_ns(d: date, t: time) -> int:
    """Wall-clock ET on a date to UTC nanoseconds (DST resolved by zoneinfo)."""
    dt = datetime.combine(d, t, tzinfo=EASTERN)
    return int(dt.timestamp()) * NS_PER_SECOND + dt.microsecond * 1000


def ns_to_et(ts_ns: int) -> datetime:
    """UTC nanoseconds to an aware ET datetime (microsecond precision; for display and rules)."""
    return datetime.fromtimestamp(ts_ns / NS_PER_SECOND, tz=EASTERN)


def is_trading_date(d: date) -> bool:
    """Globex equity sessions close Monday to Friday."""
    return d.weekday() < 5


@dataclass(frozen=True, slots=True)
class Session:
    """One trading date's boundaries in UTC ns."""

    trading_date: date
    eth_open_ns: int
    rth_open_ns: int
    rth_close_ns: int
    eth_close_ns: int

    def contains(self, ts_ns: int) -> bool:
        return self.eth_open_ns <= ts_ns < self.eth_close_ns

    def is_rth(self, ts_ns: int) -> bool:
        return self.rth_open_ns <= ts_ns < self.rth_close_ns


@lru_cache(maxsize=4096)
def session_for_date(d: date, times: SessionTimes = CME_EQUITY) -> Session:
    """The session that closes on trading date ``d`` (cached: once per day, not per event)."""
    return Session(
        trading_date=d,
        eth_open_ns=et_to_ns(d - timedelta(days=1), times.eth_open),
        rth_open_ns=et_to_ns(d, times.rth_open),
        rth_close_ns=et_to_ns(d, times.rth_close),
        eth_close_ns=et_to_ns(d, times.eth_close),
    )


def trading_date_of(ts_ns: int, times: SessionTimes = CME_EQUITY) -> date:
    """Trading date a timestamp belongs to (the halt and weekend belong to the next session)."""
    et = ns_to_et(ts_ns)
    d = et.date()
    if et.time() >= times.eth_close:
        d += timedelta(days=1)
    while not is_trading_date(d):
        d += timedelta(days=1)
    return d


def session_of(ts_ns: int, times: SessionTimes = CME_EQUITY) -> Session:
    """The session a timestamp belongs to (next session during the halt or weekend)."""
    return session_for_date(trading_date_of(ts_ns, times), times)


def sessions_between(start_ns: int, end_ns: int, times: SessionTimes = CME_EQUITY) -> list[Session]:
    """Every session that overlaps [start_ns, end_ns], in order."""
    out: list[Session] = []
    d = trading_date_of(start_ns, times)
    while True:
        s = session_for_date(d, times)
        if s.eth_open_ns > end_ns:
            break
        out.append(s)
        d += timedelta(days=1)
        while not is_trading_date(d):
            d += timedelta(days=1)
    return out


@dataclass(frozen=True, slots=True)
class SessionLabels:
    """Per-event session labels from :func:`label_sessions`."""

    sessions: list[Session]
    index: np.ndarray  # int32: position in ``sessions``; -1 for an event outside every session
    rth: np.ndarray  # bool: inside regular trading hours


def label_sessions(ts_ns: np.ndarray, times: SessionTimes = CME_EQUITY) -> SessionLabels:
    """Vectorized session index and RTH flag for a batch of timestamps (any order).

    Events in the daily halt or over the weekend get index -1: CME prints nothing there, so a
    timestamp there means a bad clock, and callers should see it rather than have it folded
    into a neighbouring session.
    """
    ts = np.asarray(ts_ns, dtype=np.int64)
    if len(ts) == 0:
        return SessionLabels([], np.zeros(0, np.int32), np.zeros(0, bool))
    sessions = sessions_between(int(ts.min()), int(ts.max()), times)
    if not sessions:  # every timestamp falls in a halt or a weekend
        return SessionLabels([], np.full(len(ts), -1, np.int32), np.zeros(len(ts), bool))
    opens = np.array([s.eth_open_ns for s in sessions], dtype=np.int64)
    closes = np.array([s.eth_close_ns for s in sessions], dtype=np.int64)
    idx = np.searchsorted(opens, ts, side="right").astype(np.int32) - 1
    safe = np.clip(idx, 0, len(sessions) - 1)
    inside = (idx >= 0) & (ts < closes[safe])
    idx = np.where(inside, idx, -1).astype(np.int32)
    rth_open = np.array([s.rth_open_ns for s in sessions], dtype=np.int64)[safe]
    rth_close = np.array([s.rth_close_ns for s in sessions], dtype=np.int64)[safe]
    rth = inside & (ts >= rth_open) & (ts < rth_close)
    return SessionLabels(sessions, idx, rth)


def session_span(ts_ns: int, times: SessionTimes = CME_EQUITY) -> tuple[int, int, int, int]:
    """(session ordinal or -1, valid_from_ns, valid_until_ns, rth_open_ns) around a timestamp.

    The ordinal is the trading date's ``toordinal()``; -1 marks the daily halt or the weekend
    (no session), matching :func:`label_sessions`. Streaming code calls this only when a
    timestamp leaves the previous span, so it runs about once per session.
    """
    s = session_of(ts_ns, times)
    if s.contains(ts_ns):
        return s.trading_date.toordinal(), s.eth_open_ns, s.eth_close_ns, s.rth_open_ns
    prev_close = session_for_date(s.trading_date - timedelta(days=1), times).eth_close_ns
    start = prev_close if prev_close <= ts_ns else ts_ns
    return -1, start, s.eth_open_ns, s.eth_open_ns


def label_ordinals(ts_ns: np.ndarray, times: SessionTimes = CME_EQUITY) -> tuple[np.ndarray, np.ndarray]:
    """Per timestamp: trading-date ordinal (-1 outside sessions) and that session's RTH open ns."""
    lab = label_sessions(ts_ns, times)
    if not lab.sessions:
        n = len(lab.index)
        return np.full(n, -1, np.int64), np.full(n, np.iinfo(np.int64).max, np.int64)
    ords = np.array([s.trading_date.toordinal() for s in lab.sessions], dtype=np.int64)
    rth = np.array([s.rth_open_ns for s in lab.sessions], dtype=np.int64)
    safe = np.clip(lab.index, 0, len(ords) - 1)
    inside = lab.index >= 0
    far = np.iinfo(np.int64).max
    return np.where(inside, ords[safe], -1), np.where(inside, rth[safe], far)


class SessionLabeller:
    """Session ordinals of timestamps arriving in time order (streaming code): one
    :func:`session_span` look-up per span, not per trade or batch. Same labels as
    :func:`label_ordinals`."""

    def __init__(self, times: SessionTimes = CME_EQUITY) -> None:
        self.times = times
        self._span: tuple[int, int, int] | None = None  # (from ns, until ns, session) of the last span

    def of(self, ts_ns: int) -> int:
        """The session ordinal of one timestamp (-1 in the halt or a weekend)."""
        span = self._span
        if span is None or not span[0] <= ts_ns < span[1]:
            sess, start, until, _ = session_span(ts_ns, self.times)
            span = self._span = (start, until, sess)
        return span[2]

    def of_array(self, ts_ns: np.ndarray) -> np.ndarray:
        """Ordinals of a batch; a constant array while it stays inside one span."""
        lo, hi = int(ts_ns.min()), int(ts_ns.max())
        span = self._span
        if span is not None and span[0] <= lo and hi < span[1]:
            return np.full(len(ts_ns), span[2], np.int64)
        sess, start, until, _ = session_span(hi, self.times)
        self._span = (start, until, sess)
        if start <= lo:
            return np.full(len(ts_ns), sess, np.int64)
        return label_ordinals(ts_ns, self.times)[0]
