"""Known-answer scenarios: tiny hand-built event arrays with the order-flow facts they plant.

Why: the footprint, delta and rule-engine tests need inputs whose right answer is known by
construction, not by running the code under test. Each function returns ``(events, facts)``:
``events`` is an ``EVENT_DTYPE`` array in time order (ES, instrument_id 1, prices in ticks,
22_000 ticks = 5500.00) and ``facts`` a frozen dataclass with what was planted. All bars are one
minute starting at the RTH open of 2024-07-02 (``BAR_START``); prints are spread evenly inside.

Footprint convention: ``volumes[price] = (bid_volume, ask_volume)``, where bid volume is traded
at the bid by sell aggressors and ask volume at the ask by buy aggressors; delta = ask - bid.
Imbalances are compared diagonally (ask at p vs bid at p-1 for buyers); the planted ones also
hold horizontally (ask at p vs bid at p), so either definition finds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from tapeflow.core.events import EVENT_DTYPE, LEVEL_UNKNOWN, Flag, Kind, Side, make_trades
from tapeflow.core.sessions import NS_PER_SECOND, session_for_date

BAR_START = session_for_date(date(2024, 7, 2)).rth_open_ns
"""09:30:00 ET on 2024-07-02, in UTC ns."""
BAR_NS = 60 * NS_PER_SECOND
INSTRUMENT_ID = 1
BUY, SELL = int(Side.BUY), int(Side.SELL)

Leg = tuple[int, int, int]
"""(price in ticks, aggressor side, total contracts) printed in lots of at most ``lot``."""


@dataclass(frozen=True, slots=True)
class BarFacts:
    """What every scenario bar has: where it starts and its footprint."""

    bar_start_ns: int
    bar_ns: int
    high: int
    low: int
    open: int
    close: int
    volumes: dict[int, tuple[int, int]]  # price -> (bid volume, ask volume), contracts
    delta: int  # ask volume - bid volume of the bar
    volume: int


@dataclass(frozen=True, slots=True)
class StackedImbalanceFacts:
    bar: BarFacts
    imbalance_prices: list[int]  # buy imbalances (ask at p >= ratio * bid at p-1), ascending
    ratio: float  # the smallest diagonal ratio among them
    sell_imbalance_prices: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AbsorptionFacts:
    bar: BarFacts
    price: int  # the bid that absorbed the selling
    sell_volume: int  # contracts sold into it
    sell_prints: int
    refreshes: int  # times the displayed bid size went back up while being hit
    min_displayed: int  # smallest displayed size at that bid (it never emptied)
    break_price: int | None  # None: no trade ever printed below ``price``


@dataclass(frozen=True, slots=True)
class AuctionFacts:
    bar: BarFacts
    unfinished_high: bool  # both bid and ask volume at the high
    unfinished_low: bool


@dataclass(frozen=True, slots=True)
class ZeroPrintFacts:
    bar: BarFacts
    zero_prices: list[int]  # inside (low, high) with no volume at all


@dataclass(frozen=True, slots=True)
class DivergenceFacts:
    bars: list[BarFacts]
    highs: list[int]  # per bar
    delta_at_high: list[int]  # cumulative delta (from the first trade) when each high printed
    delta_high: list[int]  # highest cumulative delta reached inside each bar
    bearish_divergence: bool  # higher high in price, lower high in cumulative delta


def _prints(legs: list[Leg], lot: int = 5) -> tuple[list[int], list[int], list[int]]:
    """Split legs into prints of at most ``lot`` contracts: prices, sides, sizes."""
    px: list[int] = []
    sd: list[int] = []
    sz: list[int] = []
    for price, side, total in legs:
        left = total
        while left > 0:
            q = min(lot, left)
            px.append(price)
            sd.append(side)
            sz.append(q)
            left -= q
    return px, sd, sz


def _spread(n: int, start: int = BAR_START, span: int = BAR_NS) -> np.ndarray:
    """``n`` timestamps evenly inside [start, start + span), ns."""
    return start + (np.arange(1, n + 1, dtype=np.int64) * span) // (n + 1)


def _trades(legs: list[Leg], start: int = BAR_START, lot: int = 5) -> np.ndarray:
    px, sd, sz = _prints(legs, lot)
    ev = make_trades(_spread(len(px), start), px, sz, sd, instrument_id=INSTRUMENT_ID)
    ev["flags"] = Flag.LAST
    return ev


def stacked_imbalance() -> tuple[np.ndarray, StackedImbalanceFacts]:
    """One bar with a buy-side stacked imbalance at 22002, 22003, 22004 (3 levels, >= 300 %).

    Footprint (bid x ask): 22006 0x6, 22005 8x10, 22004 6x24, 22003 5x30, 22002 4x36,
    22001 12x8, 22000 10x0. Diagonal ratios 36/12 = 3.0, 30/4 = 7.5, 24/5 = 4.8; no other
    diagonal pair reaches 3 in either direction. Open 22001, low 22000, high 22006, close 22005.
    """
    legs: list[Leg] = [
        (22001, SELL, 12), (22000, SELL, 10), (22001, BUY, 8), (22002, SELL, 4), (22002, BUY, 36),
        (22003, SELL, 5), (22003, BUY, 30), (22004, SELL, 6), (22004, BUY, 24), (22005, SELL, 3),
        (22006, BUY, 6), (22005, BUY, 10), (22005, SELL, 5),
    ]  # fmt: skip
    volumes = {
        22000: (10, 0), 22001: (12, 8), 22002: (4, 36), 22003: (5, 30),
        22004: (6, 24), 22005: (8, 10), 22006: (0, 6),
    }  # fmt: skip
    bar = BarFacts(BAR_START, BAR_NS, 22006, 22000, 22001, 22005, volumes, delta=114 - 45, volume=159)
    return _trades(legs), StackedImbalanceFacts(bar, [22002, 22003, 22004], ratio=3.0)


def absorption() -> tuple[np.ndarray, AbsorptionFacts]:
    """Heavy selling into the 22000 bid that holds, then buyers lift the price to 22003.

    The book starts bid 22000 x 60 / ask 22001 x 40. Sixty 5-lot sells (300 contracts) hit
    22000; the displayed bid drops by 5 per print and is refreshed back to 60 after every
    tenth print (5 refreshes: after prints 10, 20, 30, 40, 50), so it shows 10 at its lowest and
    never empties. Then buyers take 40 at 22001, 30 at 22002 and 10 at 22003 (the asks there
    rest 40, 30 and 25). Footprint: 22000 300x0, 22001 0x40, 22002 0x30, 22003 0x10.
    """
    rows: list[tuple] = []  # (kind, side, level, price, size) in time order
    rows += [(Kind.LEVEL, BUY, 0, 22000, 60), (Kind.LEVEL, SELL, 0, 22001, 40)]
    shown = 60
    for i in range(1, 61):
        rows.append((Kind.TRADE, SELL, LEVEL_UNKNOWN, 22000, 5))
        shown -= 5
        rows.append((Kind.LEVEL, BUY, 0, 22000, shown))
        if i % 10 == 0 and i < 60:
            shown = 60
            rows.append((Kind.LEVEL, BUY, 0, 22000, shown))
    asks = {22001: 40, 22002: 30, 22003: 25}
    for price, take in ((22001, 40), (22002, 30), (22003, 10)):
        rest = asks[price]
        for _ in range(take // 5):
            rows.append((Kind.TRADE, BUY, LEVEL_UNKNOWN, price, 5))
            rest -= 5
            if rest:
                rows.append((Kind.LEVEL, SELL, 0, price, rest))
        if rest == 0:  # the ask is gone: it moves up first, then a new bid forms below it
            rows.append((Kind.LEVEL, SELL, 0, price + 1, asks[price + 1]))
            rows.append((Kind.LEVEL, BUY, 0, price, 20))
    ev = _rows_to_events(rows)
    volumes = {22000: (300, 0), 22001: (0, 40), 22002: (0, 30), 22003: (0, 10)}
    bar = BarFacts(BAR_START, BAR_NS, 22003, 22000, 22000, 22003, volumes, delta=80 - 300, volume=380)
    facts = AbsorptionFacts(bar, 22000, 300, 60, refreshes=5, min_displayed=10, break_price=None)
    return ev, facts


def _rows_to_events(rows: list[tuple]) -> np.ndarray:
    """Hand-listed rows to events spread over one bar; book rows share their trade's time."""
    ev = np.zeros(len(rows), dtype=EVENT_DTYPE)
    kinds = np.array([r[0] for r in rows])
    is_trade = kinds == Kind.TRADE
    trade_no = np.cumsum(is_trade)  # rows before the first trade get 0, like the opening book
    ts_trade = np.r_[BAR_START, _spread(int(is_trade.sum()))]
    ev["ts_event"] = ts_trade[trade_no]
    ev["ts_recv"] = ev["ts_event"]
    ev["kind"] = kinds
    ev["side"] = [r[1] for r in rows]
    ev["level"] = [r[2] for r in rows]
    ev["price"] = [r[3] for r in rows]
    ev["size"] = [r[4] for r in rows]
    ev["count"] = np.where(kinds == Kind.LEVEL, np.maximum(1, ev["size"] // 2), 0)
    ev["action"] = np.where(is_trade, ord("T"), ord("U"))
    ev["instrument_id"] = INSTRUMENT_ID
    ev["sequence"] = np.arange(len(rows))
    ts = ev["ts_event"]
    ev["flags"][np.r_[ts[1:] != ts[:-1], True]] = Flag.LAST  # a print and its book rows: one event
    return ev


def unfinished_auction() -> tuple[np.ndarray, AuctionFacts]:
    """A bar whose high (22010) traded on both sides (7 at the bid, 5 at the ask): unfinished.

    The low (22004) traded only at the bid (9 contracts sold there, nobody lifted an offer
    there): a finished auction. Footprint: 22010 7x5, 22009 4x12, 22008 6x15, 22007 3x9,
    22006 8x6, 22005 10x4, 22004 9x0. Open 22006, close 22009.
    """
    legs: list[Leg] = [
        (22006, SELL, 8), (22005, SELL, 10), (22004, SELL, 9), (22005, BUY, 4), (22006, BUY, 6),
        (22007, BUY, 9), (22007, SELL, 3), (22008, BUY, 15), (22009, BUY, 12), (22010, BUY, 5),
        (22010, SELL, 7), (22008, SELL, 6), (22009, SELL, 4),
    ]  # fmt: skip
    volumes = {
        22004: (9, 0), 22005: (10, 4), 22006: (8, 6), 22007: (3, 9),
        22008: (6, 15), 22009: (4, 12), 22010: (7, 5),
    }  # fmt: skip
    bar = BarFacts(BAR_START, BAR_NS, 22010, 22004, 22006, 22009, volumes, delta=51 - 47, volume=98)
    return _trades(legs), AuctionFacts(bar, unfinished_high=True, unfinished_low=False)


def zero_print() -> tuple[np.ndarray, ZeroPrintFacts]:
    """A bar from 22000 to 22006 in which 22003 never traded (a buyer swept through it).

    Footprint: 22000 6x2, 22001 4x8, 22002 3x10, 22003 0x0, 22004 0x7, 22005 2x5, 22006 1x3.
    Open 22001, close 22005.
    """
    legs: list[Leg] = [
        (22001, SELL, 4), (22000, SELL, 6), (22000, BUY, 2), (22001, BUY, 8), (22002, BUY, 10),
        (22002, SELL, 3), (22004, BUY, 7), (22005, BUY, 5), (22006, BUY, 3), (22006, SELL, 1),
        (22005, SELL, 2),
    ]  # fmt: skip
    volumes = {
        22000: (6, 2), 22001: (4, 8), 22002: (3, 10), 22004: (0, 7), 22005: (2, 5), 22006: (1, 3),
    }  # fmt: skip
    bar = BarFacts(BAR_START, BAR_NS, 22006, 22000, 22001, 22005, volumes, delta=35 - 16, volume=51)
    return _trades(legs), ZeroPrintFacts(bar, zero_prices=[22003])


def delta_divergence() -> tuple[np.ndarray, DivergenceFacts]:
    """Two bars: the second makes a higher high in price with a lower high in cumulative delta.

    Bar 1 (09:30): buyers lift 22000..22010, 15 contracts at each of the 11 prices (165), with
    45 sold along the way before the top: cumulative delta +120 when 22010 prints (the last
    print of the rally). Then 80 are sold at 22006 and 22005 (40 each): delta +40 at the close
    of 22005. Bar 2 (09:31): 10 lifted at each of 22006..22012 (70) against 50 sold at 22008
    before the top: delta 40 + 70 - 50 = +60 when 22012 prints. Higher high (22012 > 22010),
    lower delta (+60 < +120). Highest cumulative delta inside each bar: +120 and +70 (after the
    first 30 lifted in bar 2, before the 50 sold).
    """
    bar1: list[Leg] = []
    for p in range(22000, 22011):
        bar1.append((p, BUY, 15))
        if p in (22003, 22006, 22009):
            bar1.append((p, SELL, 15))
    bar1 += [(22006, SELL, 40), (22005, SELL, 40)]
    bar2: list[Leg] = [(p, BUY, 10) for p in range(22006, 22009)]
    bar2 += [(22008, SELL, 50)]
    bar2 += [(p, BUY, 10) for p in range(22009, 22013)]
    ev = np.concatenate([_trades(bar1, lot=15), _trades(bar2, BAR_START + BAR_NS, lot=50)])
    ev["sequence"] = np.arange(len(ev))
    v1 = {p: (0, 15) for p in range(22000, 22011)}
    v1.update({22003: (15, 15), 22006: (55, 15), 22009: (15, 15), 22005: (40, 15)})
    v2 = {p: (0, 10) for p in range(22006, 22013)}
    v2[22008] = (50, 10)
    b1 = BarFacts(BAR_START, BAR_NS, 22010, 22000, 22000, 22005, v1, delta=165 - 125, volume=290)
    b2 = BarFacts(BAR_START + BAR_NS, BAR_NS, 22012, 22006, 22006, 22012, v2, delta=70 - 50, volume=120)
    return ev, DivergenceFacts([b1, b2], [22010, 22012], [120, 60], [120, 70], bearish_divergence=True)


ALL = {
    "stacked_imbalance": stacked_imbalance,
    "absorption": absorption,
    "unfinished_auction": unfinished_auction,
    "zero_print": zero_print,
    "delta_divergence": delta_divergence,
}
"""Every scenario by name, for tests and the ``selftest`` command."""
