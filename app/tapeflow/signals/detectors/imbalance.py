"""Diagonal and stacked imbalances: aggressive buying at P vs selling at P-1 (and the mirror).

Buy imbalance at P: ask volume at P >= ``ratio`` x bid volume at P-1 tick; sell imbalance at P:
bid volume at P >= ``ratio`` x ask volume at P+1 tick. The aggressive side must also trade at
least ``min_volume`` contracts. ``zero_rule`` says what a zero on the other side means:
``as_one`` counts it as one contract (6 x 0 is a 600 % imbalance), ``skip`` never calls it one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from tapeflow.core.events import Side
from tapeflow.signals.api import BarView, Detector, TradeView, param, rounded
from tapeflow.signals.zones import Zone, ZoneTracker

ZERO_RULES = ("as_one", "skip")


@dataclass(frozen=True)
class ImbalanceParams:
    ratio: float = param(3.0, "aggressive volume / diagonal opposite volume (3.0 = 300 %)", min=1.0)
    min_volume: int = param(10, "contracts the aggressive side must trade at the level", min=0)
    zero_rule: str = param("as_one", "a zero on the other side: as_one (counts as 1) or skip", choices=ZERO_RULES)


def diagonal_imbalances(bid: np.ndarray, ask: np.ndarray, ratio: float, min_volume: int,
                        zero_rule: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row (low to high): buy mask, buy ratio, sell mask, sell ratio (ratios 0 where not compared)."""
    n = len(bid)
    buy_r = np.zeros(n)
    sell_r = np.zeros(n)
    buy = np.zeros(n, bool)
    sell = np.zeros(n, bool)
    if n < 2:
        return buy, buy_r, sell, sell_r
    for num, den, r, m in ((ask[1:], bid[:-1], buy_r[1:], buy[1:]), (bid[:-1], ask[1:], sell_r[:-1], sell[:-1])):
        r[:] = num / np.maximum(den, 1)
        ok = (r >= ratio) & (num >= max(min_volume, 1))
        if zero_rule == "skip":
            ok &= den > 0
        m[:] = ok
    return buy, buy_r, sell, sell_r


class DiagonalImbalance(Detector):
    """Every diagonally imbalanced level of a closed bar (one signal per level)."""

    kind = "diagonal_imbalance"
    Params = ImbalanceParams
    summary = "ask at P vs bid at P-1 (and bid at P vs ask at P+1) beyond a ratio"

    def prepare_bar(self, view: BarView) -> None:
        _bar_imbalances(view, self.params)

    def on_bar(self, view: BarView) -> None:
        buy, sell = _bar_imbalances(view, self.params)
        if not (buy or sell):
            return
        cols = view.columns()
        px, bid, ask = cols["price"], cols["bid"], cols["ask"]
        for j, ratio in buy:
            r = rounded(ratio)
            self.emit(view, side=Side.BUY, price=px[j], strength=r, ask=ask[j], bid_below=bid[j - 1], ratio=r)
        for j, ratio in sell:
            r = rounded(ratio)
            self.emit(view, side=Side.SELL, price=px[j], strength=r, bid=bid[j], ask_above=ask[j + 1], ratio=r)


@dataclass(frozen=True)
class StackedParams(ImbalanceParams):
    min_levels: int = param(3, "consecutive imbalanced levels (ticks) that make a stack", min=2)
    retest: bool = param(True, "also signal when price comes back into a zone (kind stacked_imbalance_retest)")
    max_zones: int = param(50, "zones kept at most (oldest dropped first)", min=1)


class StackedImbalance(Detector):
    """``min_levels`` or more consecutive imbalances in one bar; the span is kept as a zone.

    A buy stack is support below price, a sell stack resistance above it, until a trade prints
    beyond its far edge. The signal price is the zone edge price would retest first.
    """

    kind = "stacked_imbalance"
    Params = StackedParams
    summary = "N consecutive diagonal imbalances; zone kept until traded through"

    def __init__(self, params: StackedParams | None = None) -> None:
        super().__init__(params)
        self.tracker = ZoneTracker(self.params.max_zones)

    def prepare_bar(self, view: BarView) -> None:
        _bar_imbalances(view, self.params)

    def on_bar(self, view: BarView) -> None:
        p = self.params
        buy, sell = _bar_imbalances(view, p)
        if len(buy) < p.min_levels and len(sell) < p.min_levels:
            return
        px = view.columns()["price"]
        bar = view.bar()
        for found, side in ((buy, Side.BUY), (sell, Side.SELL)):
            for run in _runs(found, p.min_levels):
                lo, hi = px[run[0][0]], px[run[-1][0]]
                weakest = rounded(min(r for _, r in run))
                zone = Zone(self.kind, side, lo, hi, bar["start_ns"], view.ts_ns, strength=weakest)
                self.tracker.add(zone, last_price=bar["close"], ends_on_retest=False)
                self.emit(view, side=side, price=hi if side == Side.BUY else lo, strength=weakest,
                          levels=len(run), zone_low=lo, zone_high=hi, min_ratio=weakest)

    def on_trades(self, view: TradeView) -> None:
        for ev in self.tracker.scan(view.price_list if view.few else view.price):
            if ev.what == "retest" and self.params.retest:
                z = ev.zone
                self.emit(view, side=z.side, price=view.price_list[ev.index], strength=z.strength, index=ev.index,
                          kind="stacked_imbalance_retest", zone_low=z.low, zone_high=z.high,
                          zone_bar_start_ns=z.bar_start_ns)

    def zones(self) -> list[Zone]:
        return self.tracker.zones()


Found = list[tuple[int, float]]
"""Imbalanced rows of a bar: (row index low to high, ratio), in row order."""


def _bar_imbalances(view: BarView, p: ImbalanceParams) -> tuple[Found, Found]:
    """The buy and the sell imbalances of the view's bar, computed once per bar for the diagonal
    and the stacked detector when their ratio, minimum volume and zero rule agree (read-only).

    Plain Python over the bar's tens of rows (cheaper than numpy's per-call cost there), with the
    same float64 steps as :func:`diagonal_imbalances`, so the same cells and ratios.
    """
    key = ("diagonal_imbalances", p.ratio, p.min_volume, p.zero_rule)
    got = view.memo.get(key)
    if got is None:
        cols = view.columns()
        bid, ask = cols["bid"], cols["ask"]
        got = view.memo[key] = (_found(ask[1:], bid[:-1], 1, p), _found(bid[:-1], ask[1:], 0, p))
    return got


def _found(num: list[int], den: list[int], shift: int, p: ImbalanceParams) -> Found:
    """(row, ratio) where ``num`` beats its diagonal ``den``; ``shift``: row of num[0] in the bar."""
    ratio, floor, skip = p.ratio, max(p.min_volume, 1), p.zero_rule == "skip"
    return [(j, r) for j, a, b in zip(itertools.count(shift), num, den)
            if a >= floor and (r := a / (b if b > 1 else 1)) >= ratio and (b > 0 or not skip)]


def _runs(found: Found, min_len: int) -> list[Found]:
    """Runs of consecutive rows at least ``min_len`` long."""
    runs: list[Found] = []
    for cell in found:
        if runs and runs[-1][-1][0] == cell[0] - 1:
            runs[-1].append(cell)
        else:
            runs.append([cell])
    return [r for r in runs if len(r) >= min_len]
