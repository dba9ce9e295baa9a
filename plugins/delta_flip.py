"""Delta flip: a bar whose delta turns strongly against the previous bar's (an example Tapeflow plugin).

Fires at the close of a bar when the previous bar had delta <= -``min_delta`` and this one
>= +``min_delta`` (BUY), or the mirror (SELL). See ``large_lot.py`` for the plugin API.
"""

from __future__ import annotations

from dataclasses import dataclass

from tapeflow.plugin import BarView, Detector, Side, param


@dataclass(frozen=True)
class DeltaFlipParams:
    min_delta: int = param(100, "contracts of delta each bar needs, opposite signs", min=1)


class DeltaFlip(Detector):
    """Bar delta changing sign, both bars beyond ``min_delta``."""

    kind = "delta_flip"
    Params = DeltaFlipParams
    summary = "bar delta flips sign with size"

    def on_bar(self, view: BarView) -> None:
        if view.i == 0:
            return
        prev, now, need = int(view.bars.delta[view.i - 1]), int(view.bars.delta[view.i]), self.params.min_delta
        if prev <= -need and now >= need:
            side = Side.BUY
        elif prev >= need and now <= -need:
            side = Side.SELL
        else:
            return
        self.emit(view, side=side, price=int(view.bars.close[view.i]), strength=abs(now - prev) / need,
                  prev_delta=prev, delta=now)
