"""Rule filters: ET windows across DST, RTH/ETH, news blackouts, bar volume, side and kind."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from tapeflow.core.events import Side
from tapeflow.core.sessions import et_to_ns
from tapeflow.signals.api import Hit
from tapeflow.signals.filters import Filters, NewsWindow, et_naive_to_ns, parse_window


def hit(ts: int, side: Side = Side.BUY, kind: str = "absorption", bar_volume: int | None = 1000) -> Hit:
    return Hit(kind, ts, side, 22000, 1.0, ts, 0, 0, bar_volume, {})


def utc(y: int, mo: int, d: int, h: int, mi: int) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()) * 10**9


def test_et_window_follows_daylight_saving_time():
    f = Filters(windows=(parse_window("09:30-11:30"),))
    # 09:45 ET is 13:45 UTC in July (EDT) but 14:45 UTC in January (EST)
    assert f.passes(hit(utc(2024, 7, 2, 13, 45)))
    assert not f.passes(hit(utc(2024, 7, 2, 15, 35)))  # 11:35 EDT
    assert f.passes(hit(utc(2024, 1, 9, 14, 45)))
    assert not f.passes(hit(utc(2024, 1, 9, 13, 45)))  # 08:45 EST


def test_et_window_on_the_dst_change_day():
    f = Filters(windows=(parse_window("09:30-11:30"),))
    for day in (date(2024, 3, 10), date(2024, 3, 11)):  # clocks go forward at 02:00 ET on the 10th
        assert f.passes(hit(et_to_ns(day, time(9, 30))))
        assert not f.passes(hit(et_to_ns(day, time(11, 30))))  # end is exclusive
        assert not f.passes(hit(et_to_ns(day, time(9, 29))))


def test_window_past_midnight():
    f = Filters(windows=(parse_window("18:00-02:00"),))
    assert f.passes(hit(et_to_ns(date(2024, 7, 1), time(23, 0))))
    assert f.passes(hit(et_to_ns(date(2024, 7, 2), time(1, 59))))
    assert not f.passes(hit(et_to_ns(date(2024, 7, 2), time(2, 0))))


def test_rth_and_eth_sessions():
    rth, eth = Filters(session="rth"), Filters(session="eth")
    open_ = et_to_ns(date(2024, 7, 2), time(9, 30))
    assert rth.passes(hit(open_)) and not eth.passes(hit(open_))
    assert eth.passes(hit(open_ - 1)) and not rth.passes(hit(open_ - 1))
    jan = et_to_ns(date(2024, 1, 9), time(15, 59))
    assert rth.passes(hit(jan))


def test_news_blackout_window():
    at = et_naive_to_ns(datetime(2024, 7, 11, 8, 30))
    f = Filters(news=(NewsWindow(at, before_s=120, after_s=300, label="CPI"),))
    assert at == utc(2024, 7, 11, 12, 30)
    assert not f.passes(hit(at - 120 * 10**9)) and not f.passes(hit(at + 300 * 10**9))
    assert f.passes(hit(at - 121 * 10**9)) and f.passes(hit(at + 301 * 10**9))


def test_min_bar_volume_side_and_kind():
    f = Filters(min_bar_volume=500, sides=(Side.SELL,), kinds=("absorption",))
    t = utc(2024, 7, 2, 14, 0)
    assert f.passes(hit(t, Side.SELL, bar_volume=500))
    assert not f.passes(hit(t, Side.SELL, bar_volume=499))
    assert f.passes(hit(t, Side.SELL, bar_volume=None))  # per-trade signals have no finished bar
    assert not f.passes(hit(t, Side.BUY))
    assert not f.passes(hit(t, Side.SELL, kind="zero_print"))
