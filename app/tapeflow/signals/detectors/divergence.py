"""Cumulative delta divergence: a new price extreme that cumulative delta does not confirm.

Bearish (SELL): the bar's high is at least ``min_price_ticks`` above every high of the previous
``lookback`` bars of the session, while the highest cumulative delta reached inside the bar is
more than ``min_delta_gap`` contracts below the highest reached inside those bars. Bullish (BUY)
mirrors it with lows. The cumulative delta inside a bar is read from the bar record:
``cum_delta - delta + max_delta`` (highest) and ``cum_delta - delta + min_delta`` (lowest).
"""

from __future__ import annotations

from dataclasses import dataclass

from tapeflow.core.events import Side
from tapeflow.signals.api import BarView, Detector, param


@dataclass(frozen=True)
class DivergenceParams:
    lookback: int = param(5, "previous bars (same session) the new extreme is compared with", min=1, max=200)
    min_price_ticks: int = param(1, "ticks beyond the previous extreme that make a new one", min=1)
    min_delta_gap: int = param(0, "contracts by which cumulative delta must fall short", min=0)


class DeltaDivergence(Detector):
    """Higher high with a lower cumulative-delta high (or lower low with a higher delta low)."""

    kind = "delta_divergence"
    Params = DivergenceParams
    summary = "price makes a new extreme that cumulative delta does not"

    def prepare_bar(self, view: BarView) -> None:
        self._found(view)

    def on_bar(self, view: BarView) -> None:
        self.emit_found(view, self._found(view))

    def _found(self, view: BarView) -> list[tuple[Side, int, int, dict[str, int]]]:
        """The divergences of the view's bar: a pure function of its history and the parameters,
        so it is computed once per bar (ahead of the close when the feed is idle)."""
        return view.remember((self.kind, self.params), lambda: self._scan(view.history(self.params.lookback)))

    def _scan(self, history: list[dict[str, int]]) -> list[tuple[Side, int, int, dict[str, int]]]:
        p = self.params
        *before, this = history
        same = [b for b in before if b["session"] == this["session"]]
        if not same:
            return []
        hi, lo = this["high"], this["low"]
        prev_hi, prev_lo = max(b["high"] for b in same), min(b["low"] for b in same)
        new_high, new_low = hi >= prev_hi + p.min_price_ticks, lo <= prev_lo - p.min_price_ticks
        if not (new_high or new_low):  # no new extreme: delta does not matter
            return []
        found = []
        base = this["cum_delta"] - this["delta"]  # cumulative delta when the bar opened
        if new_high:
            cd_hi = base + this["max_delta"]
            ref_hi = max(b["cum_delta"] - b["delta"] + b["max_delta"] for b in same)
            if cd_hi + p.min_delta_gap < ref_hi:
                found.append((Side.SELL, hi, ref_hi - cd_hi, {"prev_high": prev_hi, "delta_high": cd_hi,
                                                              "prev_delta_high": ref_hi, "bars": len(same)}))
        if new_low:
            cd_lo = base + this["min_delta"]
            ref_lo = min(b["cum_delta"] - b["delta"] + b["min_delta"] for b in same)
            if cd_lo - p.min_delta_gap > ref_lo:
                found.append((Side.BUY, lo, cd_lo - ref_lo, {"prev_low": prev_lo, "delta_low": cd_lo,
                                                             "prev_delta_low": ref_lo, "bars": len(same)}))
        return found
