"""Cumulative delta divergence: a new price extreme that cumulative delta does not confirm.

Bearish (SELL): the bar's high is at least ``min_price_ticks`` above every high of the previous
``lookback`` bars of the session, while the highest cumulative delta reached inside the bar is
more than ``min_delta_gap`` contracts below the highest reached inside those bars. Bullish (BUY)
mirrors it with lows. The cumulative delta inside a bar is read from the bar record:
``cum_delta - delta + max_delta`` (highest) and ``cum_delta - delta + min_delta`` (lowest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    def on_bar(self, view: BarView) -> None:
        p = self.params
        bars, i = view.bars, view.i
        a = max(0, i - p.lookback)
        same = np.flatnonzero(bars.session[a:i] == bars.session[i]) + a
        if len(same) == 0:
            return
        hi, lo = int(bars.high[i]), int(bars.low[i])
        prev_hi, prev_lo = int(bars.high[same].max()), int(bars.low[same].min())
        new_high, new_low = hi >= prev_hi + p.min_price_ticks, lo <= prev_lo - p.min_price_ticks
        if not (new_high or new_low):  # no new extreme: delta does not matter
            return
        base = bars.cum_delta[same] - bars.delta[same]
        base_i = int(bars.cum_delta[i]) - int(bars.delta[i])
        if new_high:
            cd_hi, ref_hi = base_i + int(bars.max_delta[i]), int((base + bars.max_delta[same]).max())
            if cd_hi + p.min_delta_gap < ref_hi:
                self.emit(view, side=Side.SELL, price=hi, strength=ref_hi - cd_hi, prev_high=prev_hi,
                          delta_high=cd_hi, prev_delta_high=ref_hi, bars=len(same))
        if new_low:
            cd_lo, ref_lo = base_i + int(bars.min_delta[i]), int((base + bars.min_delta[same]).min())
            if cd_lo - p.min_delta_gap > ref_lo:
                self.emit(view, side=Side.BUY, price=lo, strength=cd_lo - ref_lo, prev_low=prev_lo,
                          delta_low=cd_lo, prev_delta_low=ref_lo, bars=len(same))
