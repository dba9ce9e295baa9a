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
        base = bars.cum_delta - bars.delta
        cd_hi = base + bars.max_delta
        cd_lo = base + bars.min_delta
        hi, lo = int(bars.high[i]), int(bars.low[i])
        prev_hi, prev_lo = int(bars.high[same].max()), int(bars.low[same].min())
        ref_hi, ref_lo = int(cd_hi[same].max()), int(cd_lo[same].min())
        if hi >= prev_hi + p.min_price_ticks and int(cd_hi[i]) + p.min_delta_gap < ref_hi:
            self.emit(view, side=Side.SELL, price=hi, strength=ref_hi - int(cd_hi[i]), prev_high=prev_hi,
                      delta_high=int(cd_hi[i]), prev_delta_high=ref_hi, bars=len(same))
        if lo <= prev_lo - p.min_price_ticks and int(cd_lo[i]) - p.min_delta_gap > ref_lo:
            self.emit(view, side=Side.BUY, price=lo, strength=int(cd_lo[i]) - ref_lo, prev_low=prev_lo,
                      delta_low=int(cd_lo[i]), prev_delta_low=ref_lo, bars=len(same))
