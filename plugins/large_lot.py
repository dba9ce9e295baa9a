"""Large-lot prints: one trade of at least ``min_size`` contracts (an example Tapeflow plugin).

How a plugin works (the same API the built-in detectors use, ``tapeflow.signals.api``):

- Subclass ``Detector``; set ``kind`` (snake_case, unique: rules name it in ``detector = ...`` and
  it is the ``kind`` of the signals), ``summary`` (one line for the UI) and ``Params``, a frozen
  dataclass whose fields are declared with ``param(default, "doc with units", min=, max=, choices=)``
  (the UI lists them; the rules file's ``[rule.params]`` sets them, checked against those bounds).
- Override any of the hooks; the engine calls them in event order, the same way in live, replay
  and backtest:
    ``on_trades(view: TradeView)``  trades of one batch inside one bar and session: numpy columns
                                    ``ts`` (UTC ns), ``price`` (ticks), ``size`` (contracts), ``side``
                                    (1 buy aggressor, -1 sell, 0 unknown), ``cum_delta``, ``vwap``,
                                    ``vwap_sd``; flags ``bar_is_new``, ``session_is_new``.
    ``on_book(view: BookView)``     book rows (EVENT_DTYPE) of the same slice; ``view.state.book``.
    ``on_bar(view: BarView)``       a footprint bar closed: ``view.bar()`` (OHLC, volume, delta, POC,
                                    ...), ``view.rows()`` (per-tick bid/ask), ``view.bars`` (all closed
                                    bars), ``view.levels`` (session POC/VAH/VAL/HVN, prior session).
- Report with ``self.emit(view, side=Side.BUY, price=ticks, strength=x, index=i, **inputs)``:
  ``index`` is the trade of a TradeView the finding belongs to; ``inputs`` are the numbers that made
  it fire (kept with the signal so the user can audit it).
- Keep state on ``self``; never read the wall clock. If a hook raises, the engine disables this
  detector, logs the traceback and keeps running.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tapeflow.plugin import Detector, Side, TradeView, param


@dataclass(frozen=True)
class LargeLotParams:
    min_size: int = param(50, "contracts in a single print", min=1)


class LargeLot(Detector):
    """A single print of ``min_size`` contracts or more; side = its aggressor."""

    kind = "large_lot"
    Params = LargeLotParams
    summary = "a single print of at least N contracts"

    def on_trades(self, view: TradeView) -> None:
        for j in np.flatnonzero(view.size >= self.params.min_size):
            self.emit(view, side=Side(int(view.side[j])), price=int(view.price[j]),
                      strength=int(view.size[j]) / self.params.min_size, index=int(j), size=int(view.size[j]))
