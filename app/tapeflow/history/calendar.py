"""CME equity-index futures trading dates: weekdays less the exchange holidays.

Why here and not in ``core/sessions.py``: the sessions module turns times into sessions and never
needs a holiday (a holiday simply has no prints); the catalog and the date ranges do, to tell a
day that is *missing* from one on which nothing traded. The rule is CME Globex's for ES/NQ: no
trading date on New Year's Day, Martin Luther King Jr. Day, Presidents Day, Good Friday, Memorial
Day, Juneteenth (from 2022), Independence Day, Labor Day, Thanksgiving and Christmas (the
shortened sessions around some of them belong to the next trading date). A holiday on a Saturday
is observed the Friday before (except New Year's Day), on a Sunday the Monday after.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from functools import lru_cache

from tapeflow.core.sessions import CME_EQUITY, et_to_ns
from tapeflow.core.sessions import is_trading_date as is_weekday_session
from tapeflow.core.sessions import trading_date_of as weekday_trading_date_of


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The ``n``-th (1-based; -1 = last) ``weekday`` (Monday 0) of a month."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month, day = divmod(h + l_ - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _observed(d: date) -> date:
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


@lru_cache(maxsize=64)
def holidays(year: int) -> dict[date, str]:
    """The exchange holidays of a year that fall on weekdays, with their names."""
    out = {
        date(year, 1, 1) if date(year, 1, 1).weekday() != 6 else date(year, 1, 2): "New Year's Day",
        _nth_weekday(year, 1, 0, 3): "Martin Luther King Jr. Day",
        _nth_weekday(year, 2, 0, 3): "Presidents Day",
        easter(year) - timedelta(days=2): "Good Friday",
        _nth_weekday(year, 5, 0, -1): "Memorial Day",
        _observed(date(year, 7, 4)): "Independence Day",
        _nth_weekday(year, 9, 0, 1): "Labor Day",
        _nth_weekday(year, 11, 3, 4): "Thanksgiving",
        _observed(date(year, 12, 25)): "Christmas",
    }
    if year >= 2022:
        out[_observed(date(year, 6, 19))] = "Juneteenth"
    return {d: name for d, name in out.items() if d.weekday() < 5 and d.year == year}


def holiday_name(d: date) -> str | None:
    """The holiday's name if ``d`` is an exchange holiday, else ``None``."""
    return holidays(d.year).get(d)


def is_trading_date(d: date) -> bool:
    """A weekday that is not an exchange holiday."""
    return is_weekday_session(d) and holiday_name(d) is None


def trading_dates(first: date, last: date) -> Iterator[date]:
    """Every trading date from ``first`` to ``last``, both included, in order."""
    d = first
    while d <= last:
        if is_trading_date(d):
            yield d
        d += timedelta(days=1)


def trading_date_of(ts_ns: int) -> date:
    """The trading date of a timestamp, holidays included: the morning session of a holiday such as
    Independence Day (open from 18:00 ET the evening before, halted early) belongs to the next
    trading date, as CME dates it."""
    d = weekday_trading_date_of(ts_ns)
    while not is_trading_date(d):
        d += timedelta(days=1)
    return d


def previous_trading_date(d: date) -> date:
    d -= timedelta(days=1)
    while not is_trading_date(d):
        d -= timedelta(days=1)
    return d


def trading_window(d: date) -> tuple[int, int]:
    """[start, end) UTC ns of everything dated ``d``: from the previous trading date's 17:00 ET close
    to ``d``'s (so a weekend or a holiday session before ``d`` is part of it)."""
    return (et_to_ns(previous_trading_date(d), CME_EQUITY.eth_close), et_to_ns(d, CME_EQUITY.eth_close))
