"""Deterministic stand-in rule engines: known signals at known prints, for tests and benchmarks.

They implement the pipeline's ``SignalEngine`` protocol (``on_update``) and nothing else, so a
backtest's fills and metrics can be checked by hand without depending on any detector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tapeflow.core.events import Kind, Side
from tapeflow.core.instruments import Instrument
from tapeflow.flow.state import FlowState, FlowUpdate
from tapeflow.signals.model import Action, Signal


@dataclass
class ScheduledEngine:
    """Fires ``schedule[n]`` (``"long"``/``"short"``) at the n-th print (1-based) of the run."""

    instrument: Instrument
    schedule: Mapping[int, str]
    stop_ticks: int | None = 4
    target_ticks: int | None = 8
    qty: int = 1
    rule: str = "scheduled"
    seen: int = field(default=0, init=False)

    def on_update(self, state: FlowState, update: FlowUpdate, batch: np.ndarray) -> list[Signal]:
        trades = batch[batch["kind"] == Kind.TRADE]
        out: list[Signal] = []
        for j in range(len(trades)):
            self.seen += 1
            side = self.schedule.get(self.seen)
            if side is not None:
                out.append(_signal(self, trades[j], side == "long", self.seen - 1))
        return out


@dataclass
class EveryNthEngine:
    """Fires a long at every ``n``-th print and a short at every other ``n``-th: a steady load."""

    instrument: Instrument
    n: int = 500
    stop_ticks: int | None = 8
    target_ticks: int | None = 8
    qty: int = 1
    rule: str = "every_nth"
    seen: int = field(default=0, init=False)

    def on_update(self, state: FlowState, update: FlowUpdate, batch: np.ndarray) -> list[Signal]:
        is_trade = batch["kind"] == Kind.TRADE
        count = int(np.count_nonzero(is_trade))
        first, self.seen = self.seen, self.seen + count
        hits = range((first // self.n + 1) * self.n, self.seen + 1, self.n)
        if not hits:
            return []
        trades = batch[is_trade]
        return [_signal(self, trades[k - first - 1], (k // self.n) % 2 == 1, k - 1) for k in hits]


def _signal(engine: ScheduledEngine | EveryNthEngine, row: np.void, long: bool, seq: int) -> Signal:
    return Signal(
        ts_ns=int(row["ts_event"]),
        instrument=engine.instrument.root,
        kind="standin",
        side=Side.BUY if long else Side.SELL,
        price=int(row["price"]),
        strength=1.0,
        bar_start_ns=0,
        rule=engine.rule,
        action=Action.ENTER_LONG if long else Action.ENTER_SHORT,
        qty=engine.qty,
        stop_ticks=engine.stop_ticks,
        target_ticks=engine.target_ticks,
        trade_seq=seq,
    )
