"""Absorption: heavy aggressive volume into a bar's extreme that price could not get beyond.

Selling absorbed at the low (BUY signal): bid volume at the bar low >= ``factor`` x the rolling
average volume per traded level (last ``lookback`` bars, this one included) and >= ``min_volume``,
and the bar closed at least ``min_close_away`` ticks above that low. Mirror for buying absorbed
at the high (SELL). Optional confirmations:

- book: the largest size displayed at that price on the absorbing side during the bar (best
  level rows) >= ``min_resting``, and the displayed size went back up at least ``min_refreshes``
  times (iceberg / refill). Needs a source with top-of-book levels (MBP); 0 turns it off.
- location: the level lies within ``near_ticks`` of one of ``near`` (``poc``, ``vah``, ``val``,
  ``prior_poc``, ``prior_vah``, ``prior_val``, ``prior_high``, ``prior_low``, ``session_high``,
  ``session_low``, ``hvn``). Empty: anywhere.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from tapeflow.core.events import Kind, Side
from tapeflow.signals.api import BarView, BookView, Detector, param, rounded

LOCATIONS = ("poc", "vah", "val", "prior_poc", "prior_vah", "prior_val", "prior_high", "prior_low",
             "session_high", "session_low", "hvn")


@dataclass(frozen=True)
class AbsorptionParams:
    lookback: int = param(20, "bars in the rolling average of volume per traded level", min=1)
    factor: float = param(3.0, "level volume / rolling average volume per level", min=0.0)
    min_volume: int = param(50, "contracts of aggressive volume at the level", min=0)
    min_close_away: int = param(1, "ticks the close must end away from the level", min=0)
    min_resting: int = param(0, "book: largest displayed size at the level during the bar (0 = off)", min=0)
    min_refreshes: int = param(0, "book: times the displayed size went back up (0 = off)", min=0)
    near: tuple[str, ...] = param((), "location filter: level names (empty = anywhere)", choices=LOCATIONS)
    near_ticks: int = param(2, "ticks from a location level that still count as near it", min=0)


class Absorption(Detector):
    """Aggression absorbed at a bar extreme (see module docstring)."""

    kind = "absorption"
    Params = AbsorptionParams
    summary = "heavy aggressive volume at an extreme that price could not pass"

    def __init__(self, params: AbsorptionParams | None = None) -> None:
        super().__init__(params)
        self._avg: deque[float] = deque(maxlen=self.params.lookback)
        self._closes = 0  # bars closed so far: what a prepared decision was made against
        # book follow-up for the bar being built: side -> price -> [max shown, refreshes]
        self._book: dict[int, dict[int, list[int]]] = {1: {}, -1: {}}
        self._last: dict[int, tuple[int, int]] = {}

    @property
    def uses_book(self) -> bool:
        """Book rows matter only for the book confirmations; without them the engine skips on_book."""
        return self.params.min_resting > 0 or self.params.min_refreshes > 0

    def on_book(self, view: BookView) -> None:
        if view.bar_is_new:
            self._book = {1: {}, -1: {}}
        if self.params.min_resting <= 0 and self.params.min_refreshes <= 0:
            return
        rows = view.rows
        top = rows[(rows["kind"] == Kind.LEVEL) & (rows["level"] == 0)]
        for side in (1, -1):
            r = top[top["side"] == side]
            if len(r) == 0:
                continue
            px, sz = r["price"].astype(np.int64), r["size"].astype(np.int64)
            last = self._last.get(side, (None, 0))
            prev_px = np.r_[last[0] if last[0] is not None else -1, px[:-1]]
            prev_sz = np.r_[last[1], sz[:-1]]
            refresh = (px == prev_px) & (sz > prev_sz)
            book = self._book[side]
            for p in np.unique(px).tolist():
                m = px == p
                cell = book.setdefault(p, [0, 0])
                cell[0] = max(cell[0], int(sz[m].max()))
                cell[1] += int(np.count_nonzero(refresh & m))
            self._last[side] = (int(px[-1]), int(sz[-1]))

    def prepare_bar(self, view: BarView) -> None:
        if not self.uses_book:  # with book confirmation, book rows may still come before the close
            self._decide(view)

    def on_bar(self, view: BarView) -> None:
        level_volume, found = self._decide(view)
        self._avg.append(level_volume)
        self._closes += 1
        self._book = {1: {}, -1: {}}
        self.emit_found(view, found)

    def _decide(self, view: BarView) -> tuple[float, list[tuple[Side, int, float, dict]]]:
        """This bar's volume per traded level, and the absorptions it shows: a function of the bar,
        the rolling average before it and the book follow-up, so without book confirmation it is
        worked out once per bar, ahead of the close when the feed is idle (``prepare_bar``)."""
        if self.uses_book:  # book rows may come up to the close
            return self._evaluate(view)
        return view.remember((self.kind, self.params, self._closes), lambda: self._evaluate(view))

    def _evaluate(self, view: BarView) -> tuple[float, list[tuple[Side, int, float, dict]]]:
        p = self.params
        cols = view.columns()
        bar = view.bar()
        traded = len(cols["price"]) - len(view.untraded())
        level_volume = bar["volume"] / max(traded, 1)
        window = [*self._avg, level_volume][-p.lookback:]  # the rolling average with this bar in it
        avg = sum(window) / len(window)
        book = self._book
        found = []
        checks = ((0, "bid", 1, Side.BUY, bar["close"] - bar["low"]),
                  (-1, "ask", -1, Side.SELL, bar["high"] - bar["close"]))
        for j, col, book_side, side, away in checks:
            vol = cols[col][j]
            price = cols["price"][j]
            if vol < p.min_volume or vol < p.factor * avg or away < p.min_close_away:
                continue
            shown, refreshes = book[book_side].get(price, [0, 0])
            if shown < p.min_resting or refreshes < p.min_refreshes:
                continue
            near = _near(view, price, p.near, p.near_ticks) if p.near else ""
            if p.near and not near:
                continue
            found.append((side, price, rounded(vol / avg) if avg else 0.0,
                          {"volume": vol, "avg_level_volume": rounded(avg), "close_away": away, "max_shown": shown,
                           "refreshes": refreshes, "near": near}))
        return level_volume, found


def _near(view: BarView, price: int, names: tuple[str, ...], ticks: int) -> str:
    """Name of the first location level within ``ticks`` of ``price`` ("" if none)."""
    lv = view.levels
    named = lv.named()
    for name in names:
        if name == "hvn":
            if any(abs(price - h) <= ticks for h in lv.hvns()):
                return "hvn"
        elif name in named and abs(price - named[name]) <= ticks:
            return name
    return ""
