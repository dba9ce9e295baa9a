"""The one pipeline that live, replay and backtest all run: feed -> flow -> rules -> trading.

``Pipeline.process(batch)`` is the whole per-batch step, in a fixed order:

1. ``flow``: footprint, book, session profile and tape take the batch (``FlowState.update``).
2. ``signals``: the rule engine evaluates what the batch changed and returns signals, each
   stamped with the event time at which it fired.
3. ``trading``: the account's broker is walked through the batch's tape in order, and each
   signal is handed to the auto-trader at its own place in that tape: the broker has seen every
   print up to the signal and none after it. An entry therefore fills on the market of the
   moment it fired, never on a print it had not yet seen, and results do not depend on how the
   feed happened to cut its batches (live, replay and backtest agree). A signal acts only after
   the whole exchange event its row belongs to (through the next row flagged ``Flag.LAST``,
   :func:`event_end`), held into the next batch if the event goes on there: the book it meets
   is consistent, never half a packet (a CSV line's DOM rows, a DBN packet's records).

The UI never calls into this per event: it reads :meth:`Pipeline.snapshot` on a timer.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tapeflow.core.events import K_TRADE, Flag
from tapeflow.core.instruments import Instrument
from tapeflow.flow.bars import BarKind
from tapeflow.flow.state import SMALL_BATCH, FlowSettings, FlowSnapshot, FlowState, FlowUpdate
from tapeflow.signals.model import Signal
from tapeflow.trading.account import Account
from tapeflow.trading.auto_trader import AutoDecision, AutoTrader
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.snapshot import AccountSnapshot


class SignalEngine(Protocol):
    """What the pipeline needs of a rule engine (``tapeflow.signals.engine.RuleEngine``). An engine
    may also have ``on_clock(state, update, ts_ns)`` (the bars that close when the clock reaches the
    next row's time, handed out before that row) and ``idle(state)``; the pipeline uses them if so."""

    def on_update(self, state: FlowState, update: FlowUpdate, batch: np.ndarray) -> list[Signal]: ...


_LAST = int(Flag.LAST)


def event_ends(batch: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``batch`` that end an exchange event (``Flag.LAST``), ascending."""
    return np.flatnonzero(batch["flags"] & _LAST)


def event_end(ends: np.ndarray, cut: int, open_before: bool) -> int | None:
    """Rows of a batch the broker sees before a signal acts whose own row leaves ``cut`` rows seen:
    through the end of that row's exchange event (``ends``: :func:`event_ends` of the batch). None:
    the event goes on past the batch, so the signal waits for the next one. ``cut == 0`` is the
    row before the batch; ``open_before`` says its event had not ended. The one rule of when a
    signal acts, for ``Pipeline.process``, ``plan``/``act`` (lockstep) and the terminal alike."""
    if cut == 0 and not open_before:
        return 0
    i = int(np.searchsorted(ends, max(cut - 1, 0)))
    return int(ends[i]) + 1 if i < len(ends) else None


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
    entry_hold: Callable[[Signal], str | None] | None = None
    """A live feed's check before automatic entries (``LiveFeed.entry_hold``): stale feed, old signal."""
    signal_history: int = 500

    def __post_init__(self) -> None:
        self.flow = FlowState(self.instrument, self.flow_settings)
        self.signals: deque[Signal] = deque(maxlen=self.signal_history)
        self.decisions: deque[tuple[Signal, AutoDecision]] = deque(maxlen=self.signal_history)
        self.batches = 0
        self._trades_seen = 0  # trades of the run before the current batch (for Signal.trade_seq)
        self._events_seen = 0  # rows of the run before the current batch (for Signal.event_seq)
        self._listeners: list = []
        self._script: list[int | Signal] | None = None  # planning (see ``plan``): what the broker would do
        self._held: list[Signal] = []  # fired in an exchange event that goes on in the next batch
        self._open_event = False  # the last row taken did not end its exchange event (no Flag.LAST)
        self._done: list[Signal] = []  # signals acted on in the current ``process`` call
        self.use_account(self.account)

    def use_account(self, account: Account | None) -> None:
        """Trade ``account`` from now on (the terminal going live swaps its paper account for one)."""
        self.account = account
        self.auto = AutoTrader(account, hold=self.entry_hold) if account is not None else None
        broker = account.broker if account is not None else None
        # A pipeline trades one instrument: its paper broker reads every row of the feed as that
        # instrument, whatever ids the source uses (the simulator's, a contract roll's).
        self._tape_id = broker.tape_id(self.instrument.root) if isinstance(broker, PaperBroker) else None
        # a live venue fills on its own market: its positions are marked from this pipeline's feed
        self._marks_live = account is not None and not isinstance(broker, PaperBroker)

    def on_signal(self, callback) -> None:
        """Call ``callback(signal)`` for each new signal (journal, sound, UI log)."""
        self._listeners.append(callback)

    def process(self, batch: np.ndarray) -> list[Signal]:
        """Run one batch through every stage; returns the signals acted on (handed out) in it: those
        it produced, less any held for the end of their exchange event, plus earlier ones released.

        A live-sized batch with the event that closes the open time bar hands that bar's signals
        out (listeners, auto-trader) as soon as the event is seen, before the event is booked into
        the next bar: the signals, their order and the fills are the same as if the whole batch went
        through at once, only the bar-close signals leave sooner (half the work of a trade that
        closes a bar is that trade's own, in the next bar)."""
        self.batches += 1
        self._done = []
        on_clock = getattr(self.engine, "on_clock", None)
        if on_clock is not None and len(batch) <= SMALL_BATCH:
            r = self.flow.closing_row(batch)
            if r >= 0:
                if r:
                    self._process(batch[:r])
                at = int(batch["ts_event"][r])
                fired = on_clock(self.flow, self.flow.advance(at), at)
                rest = batch[r:]
                shown = self._release(rest, 0, [(1, sig) for sig in fired])  # after the closing event
                if not shown and not self._held:  # the broker takes the closing event whole all the same
                    shown = event_end(event_ends(rest), 1, True) or 0  # (where lockstep's ``splits`` cut)
                    if shown:
                        self._feed(rest[:shown])
                self._process(rest, shown=shown)
            elif len(batch) == 1 and batch["kind"][0] == K_TRADE and self.flow.builder.spec.kind is BarKind.TIME:
                self._trade_first(batch)
            else:
                self._process(batch)
        else:
            self._process(batch)
        return self._mark_live(self._done)

    def _mark_live(self, fired: list[Signal]) -> list[Signal]:
        """A live account's position in this instrument at the feed's last trade (P&L and limits)."""
        if self._marks_live and self.flow.last_price is not None:
            pos = self.account.ledger.positions.get(self.instrument.root)
            if pos is not None and pos.mark != self.flow.last_price:
                self.account.mark(self.instrument.root, self.flow.last_price)
        return fired

    def _trade_first(self, batch: np.ndarray) -> None:
        """One trade that closes no bar (a time bar's close went first, above): the rule engine keeps
        its own session figures and reads nothing the flow state books for the trade, so it goes
        first, the trade's signals are handed out, then the flow state books the trade."""
        fired = self.engine.on_update(self.flow, FlowUpdate(1, 0, False, int(batch["ts_event"][0])), batch)
        if self._release(batch, 0, [(1, sig) for sig in fired]) == 0:
            self._feed(batch)
        self._open_event = not batch["flags"][0] & _LAST
        update = self.flow.update(batch)
        if update.bars_closed:
            raise RuntimeError("a trade closed a time bar after its close went first")
        self._trades_seen += 1
        self._events_seen += 1

    def _process(self, batch: np.ndarray, shown: int = 0) -> None:
        """``process`` for rows of which the broker has seen the first ``shown`` already."""
        if self._held:
            shown = self._release(batch, shown, [])  # their event ends here: out before the flow books it
        update = self.flow.update(batch)
        fired = self.engine.on_update(self.flow, update, batch) if self.engine is not None else []
        if self.account is None and self._script is None:
            self._act(fired)
            if len(batch):
                self._open_event = not batch["flags"][-1] & _LAST
            return
        trades_before, events_before = self._trades_seen, self._events_seen
        self._trades_seen += update.trades
        self._events_seen += len(batch)
        if fired:
            ts = np.maximum.accumulate(batch["ts_event"])
            trade_rows = np.flatnonzero(batch["kind"] == K_TRADE)
        cuts = [(self._cut(sig, ts, trade_rows, trades_before, events_before), sig) for sig in fired]
        start = self._release(batch, shown, cuts)
        if start < len(batch):
            self._feed(batch[start:])
        if len(batch):
            self._open_event = not batch["flags"][-1] & _LAST

    def _release(self, batch: np.ndarray, start: int, cuts: list[tuple[int, Signal]]) -> int:
        """Act on the held signals, then on ``cuts`` ((rows seen at its row, signal), in order), each
        after the broker has taken the rows through the end of its exchange event (:func:`event_end`),
        from row ``start`` on; a signal whose event goes on past the batch is held, with every one
        after it. Returns the rows fed."""
        pending = [(1, sig) for sig in self._held] + cuts  # held: their event goes on at least one row
        self._held = []
        if not pending:
            return start
        ends = event_ends(batch)
        for i, (cut, sig) in enumerate(pending):
            end = event_end(ends, cut, self._open_event)
            if end is None:
                self._held = [s for _, s in pending[i:]]
                break
            if end > start:
                self._feed(batch[start:end])
                start = end
            self._act([sig])
        return start

    def plan(self, batch: np.ndarray) -> list[int | Signal]:
        """Flow and rules over ``batch`` without the broker: the script of what ``process`` would
        have done, in order: an int ``n`` for "the broker takes the next n rows", a signal for "act
        on it now". A multi-instrument backtest plans each instrument's tape ahead in large batches
        (flow and rules do not depend on the other instruments) and plays the scripts back in time
        order against the shared account (:mod:`tapeflow.backtest.lockstep`)."""
        self._script = []
        try:
            self.process(batch)
            return self._script
        finally:
            self._script = None

    def act(self, signal: Signal) -> None:
        """Act on a planned signal now (listeners, auto-trader): the playback half of ``plan``."""
        self._act([signal])
        self._done = []

    def _feed(self, rows: np.ndarray) -> None:
        """The broker takes ``rows`` (or the plan records that it would)."""
        if self._script is not None:
            if len(rows):
                self._script.append(len(rows))
        elif self.account is not None:
            self.account.on_events(self.for_broker(rows))

    def _act(self, fired: list[Signal]) -> None:
        """Hand signals out: listeners, then the auto-trader for entries (else the journal)."""
        self._done.extend(fired)
        if self._script is not None:
            self._script.extend(fired)
            return
        for sig in fired:
            self._record(sig)
            if self.account is None:
                continue
            if self.auto is not None and self.auto_trade and sig.is_entry:
                self.decisions.append((sig, self.auto.on_signal(sig)))  # journals the signal first
            elif self.account.journal is not None:
                self.account.journal.write("signals", sig)

    def for_broker(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` as the paper broker reads them: every row as this pipeline's instrument."""
        if self._tape_id is not None and len(rows) and np.any(rows["instrument_id"] != self._tape_id):
            rows = rows.copy()
            rows["instrument_id"] = self._tape_id
        return rows

    def idle(self) -> None:
        """The feed has nothing waiting (live, or a replay between batches): do now the work that
        would otherwise fall on the next events' path. Never changes results; a backtest skips it."""
        idle = getattr(self.engine, "idle", None)
        if idle is not None:
            idle(self.flow)
        self.flow.settle()  # after the engine: its bar-close preparation is what the next signal waits for
        self.flow.builder.flush()

    @staticmethod
    def _cut(sig: Signal, ts: np.ndarray, trade_rows: np.ndarray, trades_before: int, events_before: int) -> int:
        """The row ``sig`` fired on, as rows of the batch through it: the event (the bar close) or the
        trade that made it fire (exact, whatever the batch size), else the last row at its time.
        It acts after the end of that row's exchange event (:func:`event_end`)."""
        if sig.event_seq is not None and 0 <= sig.event_seq - events_before < len(ts):
            return sig.event_seq - events_before + 1
        if sig.trade_seq is not None and 0 <= sig.trade_seq - trades_before < len(trade_rows):
            return int(trade_rows[sig.trade_seq - trades_before]) + 1
        return int(np.searchsorted(ts, sig.ts_ns, side="right"))

    def _record(self, sig: Signal) -> None:
        self.signals.append(sig)
        for cb in self._listeners:
            cb(sig)

    def run(self, batches) -> list[Signal]:
        """Process every batch of an iterable (files, simulator); returns all signals."""
        out: list[Signal] = []
        for batch in batches:
            out.extend(self.process(batch))
        return out + self.release_held()

    def release_held(self) -> list[Signal]:
        """The feed has ended inside an exchange event (its last row had no ``Flag.LAST``): act on the
        signals held for the event's end now, after every row. Returns them."""
        held, self._held, self._done = self._held, [], []
        self._act(held)
        self._open_event = False
        return held

    def snapshot(self) -> PipelineSnapshot:
        return PipelineSnapshot(
            flow=self.flow.snapshot(),
            account=self.account.snapshot() if self.account is not None else None,
            signals=tuple(self.signals),
            decisions=tuple(self.decisions),
            batches=self.batches,
        )
