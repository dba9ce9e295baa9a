"""Threshold crossings, trade by trade: cumulative delta, bar delta, bar volume, price vs VWAP.

A crossing is reported at the trade that moves the figure from below a level to at or above it
(BUY side for upward crossings of the positive level, SELL for downward crossings of the negative
one); each new crossing after moving back counts again. Figures restart where they should: the
session for cumulative delta and VWAP, the bar for bar delta and volume.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from tapeflow.core.events import Side
from tapeflow.signals.api import Detector, TradeView, param, rounded


def _crossings(values: np.ndarray, prev: int | float, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices where ``values`` crosses up through +level, and down through -level."""
    before = _shift(values, prev)
    up = np.flatnonzero((before < level) & (values >= level))
    down = np.flatnonzero((before > -level) & (values <= -level))
    return up, down


def _crossings_few(values: list[int], prev: int, level: int) -> tuple[list[int], list[int]]:
    """:func:`_crossings` over a Python list."""
    up, down = [], []
    for j, v in enumerate(values):
        if prev < level <= v:
            up.append(j)
        if prev > -level >= v:
            down.append(j)
        prev = v
    return up, down


@dataclass(frozen=True)
class CumDeltaParams:
    level: int = param(1000, "cumulative delta (contracts) whose crossing is reported, both signs", min=1)


class CumDeltaCross(Detector):
    """Session cumulative delta crossing +level (BUY) or -level (SELL)."""

    kind = "cum_delta_cross"
    Params = CumDeltaParams
    summary = "session cumulative delta crosses a level"

    def __init__(self, params: CumDeltaParams | None = None) -> None:
        super().__init__(params)
        self._last = 0

    def on_trades(self, view: TradeView) -> None:
        if len(view) == 0:
            return
        prev = 0 if view.session_is_new else self._last
        values = view.cum_delta_list if view.few else view.cum_delta
        self._last = int(values[-1])
        self._report(view, values, prev, "cum_delta")

    def _report(self, view: TradeView, values: np.ndarray | list[int], prev: int, name: str) -> None:
        """Emit the crossings in ``values`` (a list for a few trades: no numpy call unless one crosses)."""
        level = self.params.level
        hi, lo = (max(values), min(values)) if isinstance(values, list) else (values.max(), values.min())
        no_up = hi < level or (prev >= level and lo >= level)  # never below then at/above +level
        no_down = lo > -level or (prev <= -level and hi <= -level)
        if no_up and no_down:
            return
        if isinstance(values, list):
            up, down = _crossings_few(values, prev, level)
        else:
            up, down = (c.tolist() for c in _crossings(values, prev, level))
        prices = view.price_list if view.few else view.price
        for j, side in sorted([(j, Side.BUY) for j in up] + [(j, Side.SELL) for j in down]):
            v = int(values[j])
            self.emit(view, side=side, price=int(prices[j]), strength=rounded(abs(v) / level), index=j,
                      **{name: v, "level": level if side == Side.BUY else -level})


@dataclass(frozen=True)
class BarDeltaParams:
    level: int = param(300, "bar delta (contracts) whose crossing is reported, both signs", min=1)


class BarDeltaCross(CumDeltaCross):
    """Delta of the bar being built crossing +level (BUY) or -level (SELL)."""

    kind = "bar_delta_cross"
    Params = BarDeltaParams
    summary = "delta of the forming bar crosses a level"

    def on_trades(self, view: TradeView) -> None:
        if len(view) == 0:
            return
        prev = 0 if view.bar_is_new else self._last
        few = view.few
        values = list(accumulate(view.signed_list, initial=prev))[1:] if few else np.cumsum(view.signed) + prev
        self._last = int(values[-1])
        self._report(view, values, prev, "bar_delta")


@dataclass(frozen=True)
class BarVolumeParams:
    level: int = param(2000, "contracts traded in the forming bar", min=1)


class BarVolumeCross(Detector):
    """Volume of the bar being built reaching a level (side: the bar delta's sign at that trade)."""

    kind = "bar_volume_cross"
    Params = BarVolumeParams
    summary = "volume of the forming bar reaches a level"

    def __init__(self, params: BarVolumeParams | None = None) -> None:
        super().__init__(params)
        self._vol = 0
        self._delta = 0

    def on_trades(self, view: TradeView) -> None:
        if len(view) == 0:
            return
        if view.bar_is_new:
            self._vol = self._delta = 0
        level = self.params.level
        few = view.few
        added = sum(view.size_list) if few else int(view.size.sum())
        if not self._vol < level <= self._vol + added:  # volume only grows: no crossing here
            self._vol += added
            self._delta += sum(view.signed_list) if few else int(view.signed.sum())
            return
        # volume only grows, so exactly one trade of this slice reaches the level
        vol = list(accumulate(view.size_list, initial=self._vol))  # vol[j]: before trade j, vol[j + 1]: after
        delta = list(accumulate(view.signed_list, initial=self._delta))
        self._vol, self._delta = vol[-1], delta[-1]
        j = bisect_left(vol, level) - 1
        d = delta[j + 1]
        self.emit(view, side=(d > 0) - (d < 0), price=view.price_list[j], strength=rounded(vol[j + 1] / level),
                  index=j, bar_volume=vol[j + 1], bar_delta=d)


@dataclass(frozen=True)
class VwapParams:
    band: float = param(0.0, "band in standard deviations (0 = the VWAP itself)", min=0.0)
    confirm_ticks: int = param(1, "ticks beyond the line a trade must print to count as crossed", min=0)


class VwapCross(Detector):
    """Price crossing up through VWAP + band (BUY) or down through VWAP - band (SELL).

    Hysteresis: a side is decided only by a trade at least ``confirm_ticks`` beyond the line, so
    trades on the line do not flip it back and forth. The first trades of a session decide the
    starting side without a signal.
    """

    kind = "vwap_cross"
    Params = VwapParams
    summary = "price crosses the session VWAP or one of its bands"

    def __init__(self, params: VwapParams | None = None) -> None:
        super().__init__(params)
        self._upper_side = 0  # -1 below, +1 above, 0 undecided
        self._lower_side = 0

    def on_trades(self, view: TradeView) -> None:
        if len(view) == 0:
            return
        if view.session_is_new:
            self._upper_side = self._lower_side = 0
        p = self.params
        if view.few:
            self._few(view)
            return
        price = view.price.astype(np.float64)
        upper = view.vwap + p.band * view.vwap_sd
        lower = view.vwap - p.band * view.vwap_sd
        if _stays(price, upper, p.confirm_ticks, self._upper_side) and \
                _stays(price, lower, p.confirm_ticks, self._lower_side):
            return
        up_state, up_prev = _sides(price, upper, p.confirm_ticks, self._upper_side)
        lo_state, lo_prev = _sides(price, lower, p.confirm_ticks, self._lower_side)
        self._upper_side, self._lower_side = int(up_state[-1]), int(lo_state[-1])
        hits = [(int(j), Side.BUY) for j in np.flatnonzero((up_prev == -1) & (up_state == 1))]
        hits += [(int(j), Side.SELL) for j in np.flatnonzero((lo_prev == 1) & (lo_state == -1))]
        for j, side in sorted(hits):
            line = upper[j] if side == Side.BUY else lower[j]
            self.emit(view, side=side, price=view.price[j], strength=rounded(abs(price[j] - line)), index=j,
                      vwap=rounded(float(view.vwap[j])), line=rounded(float(line)), band=p.band)

    def _few(self, view: TradeView) -> None:
        """The same sides, crossings and figures for a few trades with Python floats (the same
        IEEE steps as the numpy path): a live trade costs no numpy call here."""
        band, confirm = self.params.band, self.params.confirm_ticks
        up, lo = self._upper_side, self._lower_side
        hits = []
        for j, (x, v, sd) in enumerate(zip(view.price_list, view.vwap_list, view.vwap_sd_list, strict=True)):
            x = float(x)
            upper, lower = v + band * sd, v - band * sd
            side = _side_of(x, upper, confirm)
            if side:
                if up == -1 and side == 1:
                    hits.append((j, Side.BUY, x, v, upper))
                up = side
            side = _side_of(x, lower, confirm)
            if side:
                if lo == 1 and side == -1:
                    hits.append((j, Side.SELL, x, v, lower))
                lo = side
        self._upper_side, self._lower_side = up, lo
        if len(hits) > 1:  # both lines crossed (a band): by trade, then side
            hits.sort(key=lambda h: (h[0], h[1]))
        for j, side, x, v, line in hits:
            self.emit(view, side=side, price=view.price_list[j], strength=rounded(abs(x - line)), index=j,
                      vwap=rounded(v), line=rounded(line), band=band)


def _side_of(price: float, line: float, confirm: int) -> int:
    """1 above ``line`` (by ``confirm`` ticks or more), -1 below, 0 undecided (``_sides`` per trade)."""
    if confirm == 0:
        return 1 if price > line else -1 if price < line else 0
    return 1 if price >= line + confirm else -1 if price <= line - confirm else 0



def _stays(price: np.ndarray, line: np.ndarray, confirm: int, carry: int) -> bool:
    """True when no trade decides the side opposite ``carry`` (so every side stays ``carry``)."""
    if carry == 1:
        return not (price < line if confirm == 0 else price <= line - confirm).any()
    if carry == -1:
        return not (price > line if confirm == 0 else price >= line + confirm).any()
    return False


def _sides(price: np.ndarray, line: np.ndarray, confirm: int, carry: int) -> tuple[np.ndarray, np.ndarray]:
    """Side of each trade vs ``line`` with hysteresis (carried forward), and the side before it."""
    raw = np.where(price >= line + confirm, 1, np.where(price <= line - confirm, -1, 0))
    if confirm == 0:
        raw = np.where(price > line, 1, np.where(price < line, -1, 0))
    idx = np.where(raw != 0, np.arange(len(raw)), -1)
    idx = np.maximum.accumulate(idx)
    state = np.where(idx >= 0, raw[np.maximum(idx, 0)], carry)
    return state, _shift(state, carry)


def _shift(values: np.ndarray, first: float) -> np.ndarray:
    """``values`` moved one place later, ``first`` in front (the value before each element)."""
    out = np.empty_like(values)
    out[0] = first
    out[1:] = values[:-1]
    return out
