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

    def on_bar(self, view: BarView) -> None:
        p = self.params
        bars, i = view.bars, view.i
        a = max(0, i - p.lookback)
        # the lookback is a handful of bars: Python lists beat numpy's per-call cost here
        session = bars.session[a : i + 1].tolist()
        same = [k for k in range(i - a) if session[k] == session[-1]]
        if not same:
            return
        high, low = bars.high[a : i + 1].tolist(), bars.low[a : i + 1].tolist()
        hi, lo = high[-1], low[-1]
        prev_hi, prev_lo = max(high[k] for k in same), min(low[k] for k in same)
        new_high, new_low = hi >= prev_hi + p.min_price_ticks, lo <= prev_lo - p.min_price_ticks
        if not (new_high or new_low):  # no new extreme: delta does not matter
            return
        cum, delta = bars.cum_delta[a : i + 1].tolist(), bars.delta[a : i + 1].tolist()
        base = [cum[k] - delta[k] for k in range(i - a + 1)]
        if new_high:
            top = bars.max_delta[a : i + 1].tolist()
            cd_hi, ref_hi = base[-1] + top[-1], max(base[k] + top[k] for k in same)
            if cd_hi + p.min_delta_gap < ref_hi:
                self.emit(view, side=Side.SELL, price=hi, strength=ref_hi - cd_hi, prev_high=prev_hi,
                          delta_high=cd_hi, prev_delta_high=ref_hi, bars=len(same))
        if new_low:
            bottom = bars.min_delta[a : i + 1].tolist()
            cd_lo, ref_lo = base[-1] + bottom[-1], min(base[k] + bottom[k] for k in same)
            if cd_lo - p.min_delta_gap > ref_lo:
                self.emit(view, side=Side.BUY, price=lo, strength=cd_lo - ref_lo, prev_low=prev_lo,
                          delta_low=cd_lo, prev_delta_low=ref_lo, bars=len(same))
