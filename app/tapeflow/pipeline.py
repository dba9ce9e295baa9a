"""The one pipeline that live, replay and backtest all run: feed -> flow -> rules -> trading.

``Pipeline.process(batch)`` is the whole per-batch step, in a fixed order:

1. ``flow``: footprint, book, session profile and tape take the batch (``FlowState.update``).
2. ``trading``: the account's broker sees the batch's tape, so working orders fill or trigger
   on prints of this batch (orders placed earlier never see prints that came before them).
3. ``signals``: the rule engine evaluates what the batch changed and returns signals.
4. The auto-trader turns entry signals into bracket orders through the risk manager; they work
   from the next batch on, so no signal ever trades on a print it had not yet seen.

The UI never calls into this per event: it reads :meth:`Pipeline.snapshot` on a timer.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tapeflow.core.instruments import Instrument
from tapeflow.flow.state import FlowSettings, FlowSnapshot, FlowState, FlowUpdate
from tapeflow.signals.model import Signal
from tapeflow.trading.account import Account
from tapeflow.trading.auto_trader import AutoDecision, AutoTrader
from tapeflow.trading.snapshot import AccountSnapshot


class SignalEngine(Protocol):
    """What the pipeline needs of a rule engine (``tapeflow.signals.engine.RuleEngine``)."""

    def on_update(self, state: FlowState, update: FlowUpdate, batch: np.ndarray) -> list[Signal]: ...


@dataclass(frozen=True, slots=True)
class PipelineSnapshot:
    """Everything a frame of the UI draws, taken at one instant."""

    flow: FlowSnapshot
    account: AccountSnapshot | None
    signals: tuple[Signal, ...]  # most recent last
    decisions: tuple[tuple[Signal, AutoDecision], ...]  # what the auto-trader did, most recent last
    batches: int


@dataclass
class Pipeline:
    """One instrument's pipeline. ``engine``, ``account`` and ``auto`` are optional stages."""

    instrument: Instrument
    flow_settings: FlowSettings = field(default_factory=FlowSettings)
    engine: SignalEngine | None = None
    account: Account | None = None
    auto_trade: bool = True
    signal_history: int = 500

    def __post_init__(self) -> None:
        self.flow = FlowState(self.instrument, self.flow_settings)
        self.auto = AutoTrader(self.account) if self.account is not None else None
        self.signals: deque[Signal] = deque(maxlen=self.signal_history)
        self.decisions: deque[tuple[Signal, AutoDecision]] = deque(maxlen=self.signal_history)
        self.batches = 0
        self._listeners: list = []

    def on_signal(self, callback) -> None:
        """Call ``callback(signal)`` for each new signal (journal, sound, UI log)."""
        self._listeners.append(callback)

    def process(self, batch: np.ndarray) -> list[Signal]:
        """Run one batch through every stage; returns the signals it produced."""
        self.batches += 1
        update = self.flow.update(batch)
        if self.account is not None:
            self.account.on_events(batch)
        if self.engine is None:
            return []
        fired = self.engine.on_update(self.flow, update, batch)
        for sig in fired:
            self.signals.append(sig)
            for cb in self._listeners:
                cb(sig)
            if self.auto is not None and self.auto_trade and sig.is_entry:
                self.decisions.append((sig, self.auto.on_signal(sig)))
        return fired

    def run(self, batches) -> list[Signal]:
        """Process every batch of an iterable (files, simulator); returns all signals."""
        out: list[Signal] = []
        for batch in batches:
            out.extend(self.process(batch))
        return out

    def snapshot(self) -> PipelineSnapshot:
        return PipelineSnapshot(
            flow=self.flow.snapshot(),
            account=self.account.snapshot() if self.account is not None else None,
            signals=tuple(self.signals),
            decisions=tuple(self.decisions),
            batches=self.batches,
        )
