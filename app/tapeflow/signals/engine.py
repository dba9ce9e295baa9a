"""The rule engine: FlowState updates in, Signals out, identically in live, replay and backtest.

Call :meth:`RuleEngine.on_update` once per batch, right after ``FlowState.update(batch)``. The
engine cuts the batch where footprint bars closed (at the event that closed them: for a time bar
the first row, book rows included, whose time reaches its end; for a tick or volume bar the trade
that opens the next) and where the session changed, then, slice by slice in event order, feeds the
trades and book rows to every detector and calls ``on_bar`` for each bar that closed. So a detector sees exactly the
same sequence whatever the batch sizes, and :func:`run_rules` over a whole file gives the same
signals as streaming it. (The one exception: ``view.state``, the FlowState as of the batch: after
it, or, for a live batch of one trade, which the pipeline evaluates before the flow state books it,
before it; the built-ins do not read it.)

Cost: the hooks each detector overrides are listed once per rule set; a batch of book rows only
costs next to nothing unless a detector wants book rows; every detector reads one shared
``BarView`` per closed bar (bar fields, rows and per-bar results such as the diagonal imbalances
computed once), and bar closes hand over a frozen copy of the session profile that is summarized
only if a detector asks (see ``tracking.py``).

Detectors are shared: rules with the same detector and parameters use one instance. A plugin
detector that raises is disabled, with its traceback logged and kept in ``disabled``; a built-in
that raises is a bug and propagates.
"""

from __future__ import annotations

import itertools
import logging
import traceback
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tapeflow.core.events import Kind
from tapeflow.core.instruments import Instrument, parse_symbol
from tapeflow.core.sessions import SessionLabeller
from tapeflow.flow.bars import BarKind
from tapeflow.flow.footprint import FootprintBars
from tapeflow.flow.footprint_stream import FootprintBuilder
from tapeflow.flow.state import SMALL_BATCH, FlowSettings, FlowState, FlowUpdate, LiveColumns
from tapeflow.signals.api import BarView, BookView, Column, Detector, Hit, LevelsSource, TradeView, rounded
from tapeflow.signals.model import Action, Signal
from tapeflow.signals.plugins import Registry, load_registry
from tapeflow.signals.rules import Rule, RuleSet, load_rules, plugin_dirs_of
from tapeflow.signals.tracking import SessionTracker
from tapeflow.signals.zones import Zone

log = logging.getLogger("tapeflow.signals")
_MIN_TS = np.iinfo(np.int64).min
_TRADE = int(Kind.TRADE)
BAR_HISTORY = 256
"""Closed bars before the current one that ``BarView.bars`` holds (lookbacks must fit in it)."""
PREPARE_WITHIN = 6
"""Idle calls prepare a time bar's close once the feed's clock is within 1/6 of the bar's length of
its end (10 s of a one-minute bar), again after each trade that comes in that window: ~0.15 ms each,
all while the feed is quiet. A shorter window (1.2 s was tried) misses the closes that follow a
quiet spell (the last event 1.3-2.5 s before the bar's end, in the simulated lunch hour), and an
unprepared close is the slowest signal there is (~200-300 µs against ~100)."""


@dataclass(frozen=True, slots=True)
class DisabledDetector:
    """A plugin detector switched off because it raised."""

    kind: str
    rules: tuple[str, ...]
    error: str
    traceback: str


class RuleEngine:
    """Evaluates rules against one instrument's flow state, batch by batch."""

    def __init__(self, rules: Sequence[Rule] | RuleSet | str | Path, instrument: Instrument | str, *,
                 registry: Registry | None = None, symbol: str | None = None) -> None:
        if isinstance(rules, str | Path):
            rules = load_rules(rules, registry=registry).rules
        elif isinstance(rules, RuleSet):
            rules = rules.rules
        if isinstance(instrument, str):
            symbol = symbol or instrument
            instrument = parse_symbol(instrument).instrument
        self.instrument = instrument
        self.symbol = symbol or instrument.root
        self._registry = registry
        self.disabled: list[DisabledDetector] = []
        self._dead: set[Detector] = set()
        self._detectors: dict[tuple, Detector] = {}
        self._routes: list[tuple[Detector, list[tuple[int, Rule]]]] = []
        self.set_rules(rules)
        self._tracker: SessionTracker | None = None
        self._trade_no = 0  # trades seen so far (global ordering key)
        self._units_total = 0  # prints (tick bars) or contracts (volume bars) seen
        self._units_closed = 0  # of those, in closed bars
        self._last_ts = _MIN_TS  # last trade time, clamped monotonic like the footprint builder
        self._session = -2  # session label of the last trade
        self._bar_start: int | None = None  # start of the bar in progress (tick/volume bars)
        self._new_bar = True
        self._labeller = SessionLabeller()
        self._prepared: _PreparedClose | None = None  # the next bar close, made ready while the feed was idle
        self.prepared_closes = 0  # bar closes served from a preparation (the rest were computed at the close)
        self._events = 0  # rows of every batch seen so far (Signal.event_seq)
        self._book_new_bar = True  # no book row handed to detectors since the last bar close
        self._last_trades: TradeView | None = None  # the last trade slice: what idle rehearses a signal on

    def fresh(self) -> RuleEngine:
        """The same rules with no history (counters, clock, detector state): a backward jump in a
        replay plays from the first event again, and must fire what a first play fires."""
        return RuleEngine(self.rules, self.instrument, registry=self._registry, symbol=self.symbol)

    @classmethod
    def from_file(cls, path: str | Path, instrument: Instrument | str, *,
                  plugins_dir: str | Path | None = None, symbol: str | None = None) -> RuleEngine:
        """Engine over a rules file; plugins from ``plugins_dir``, the file's ``plugins`` list and entry points."""
        return engine_from_file(path, instrument=instrument, plugins_dir=plugins_dir, symbol=symbol)

    # --- configuration ----------------------------------------------------------------------
    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for _, rs in self._routes for _, r in rs)

    def set_rules(self, rules: Iterable[Rule]) -> None:
        """Replace the rules; detectors whose kind and parameters are unchanged keep their state."""
        rules = list(rules)
        reg = self._registry
        if reg is None and any(r.detector not in _builtin_kinds() for r in rules):
            reg = self._registry = load_registry()
        old = self._detectors
        self._detectors = {}
        routes: dict[tuple, list[tuple[int, Rule]]] = {}
        for idx, rule in enumerate(rules):
            key = (rule.detector, rule.params)
            if key not in self._detectors:
                det = old.get(key)
                if det is None:
                    cls = (reg.detectors if reg else _builtins())[rule.detector]
                    det = cls(rule.params)
                self._detectors[key] = det
            routes.setdefault(key, []).append((idx, rule))
        self._routes = [(self._detectors[k], rs) for k, rs in routes.items()]
        self._plugin_kinds = set(reg.plugin_kinds) if reg else set()
        # per hook, the bound methods of the detectors that override it (built once, not per call);
        # a detector whose ``uses_book`` is False (e.g. absorption without book confirmation) gets no book rows
        self._hooks = {
            hook: [(det, rules, getattr(det, hook), det.kind in self._plugin_kinds) for det, rules in self._routes
                   if getattr(type(det), hook) is not getattr(Detector, hook)
                   and (hook != "on_book" or getattr(det, "uses_book", True))]
            for hook in ("on_trades", "on_book", "on_bar", "on_idle", "prepare_bar")
        }
        self._wants_book = bool(self._hooks["on_book"])
        self._drains = [(d, rs, d.kind in self._plugin_kinds) for d, rs in self._routes]

    # --- the per-batch call -----------------------------------------------------------------
    def on_update(self, state: FlowState, update: FlowUpdate, batch: np.ndarray) -> list[Signal]:
        """Signals fired by one batch (already applied to ``state``), in event order."""
        if len(batch) == 0:
            return []
        if self._tracker is None:
            self._tracker = SessionTracker(state.settings.value_area, state.settings.value_area_method)
        events_before = self._events
        self._events += len(batch)
        small = len(batch) <= SMALL_BATCH  # live-sized: find the cuts with Python scalars, not numpy calls
        if small:
            live = state.live_columns(batch)
            if len(batch) == 1 and (live.rows or update.bars_closed):  # one trade, or a book row closing a bar
                return self._one_row(state, update, live, batch, events_before)
            kinds = live.kinds
            trade_rows: list[int] | np.ndarray = live.rows

            def book_rows(r0: int, r1: int) -> list[int] | np.ndarray:
                return [i for i in range(r0, r1) if kinds[i] != _TRADE]
        else:
            is_trade = batch["kind"] == _TRADE
            trade_rows = np.flatnonzero(is_trade)
            is_book = ~is_trade

            def book_rows(r0: int, r1: int) -> list[int] | np.ndarray:
                return np.flatnonzero(is_book[r0:r1]) + r0
        n = len(trade_rows)
        m = update.bars_closed
        if n == 0 and not m:  # book rows only and no bar closed (most live batches): nothing but on_book
            last = max(live.clock) if small else int(batch["ts_event"].max())
            if last > self._last_ts:
                self._last_ts = last
            if self._wants_book:
                self._book_slice(state, batch, book_rows(0, len(batch)), self._bar_start or 0, self._trade_no)
                return self._collect()
            return []
        ts: Column
        price: Column
        size: Column
        side: Column
        if small:  # Python lists; bar fields from the builder's Python history (a series only if a detector reads one)
            ts, price, size, side = live.ts, live.price, live.size, live.side
            clock: Sequence[int] = self._clock_few(live.clock)
            clamped: Sequence[int] = clock if n == len(clock) else [clock[r] for r in trade_rows]
            closed: FootprintBars | _LiveCloses | None = _LiveCloses(state.builder, m) if m else None
            k0 = 0
            label = self._labeller.of
            sessions: Sequence[int] = [label(t) for t in ts]
            close_rows = self._closing_rows_few(closed, m, state, clock, trade_rows, size)
            close_at = [bisect_left(trade_rows, r) for r in close_rows]
            changes = [j for j in range(1, n) if sessions[j] != sessions[j - 1]]
        else:  # per column: gathering whole structured rows is ~20x slower
            ts, price, side = (batch[f][trade_rows] for f in ("ts_event", "price", "side"))
            size = batch["size"][trade_rows].astype(np.int64)
            clock = np.maximum.accumulate(np.maximum(batch["ts_event"], self._last_ts))
            clamped = clock[trade_rows]
            if 0 < m <= BAR_HISTORY:
                closed, k0 = _LiveCloses(state.builder, m), 0
            else:
                closed = recent_closed_bars(state.builder, m + BAR_HISTORY) if m else None
                k0 = (len(closed) - m) if closed is not None else 0
            close_rows = self._closing_rows(closed, k0, m, state, clock, trade_rows, size)
            close_at = np.searchsorted(trade_rows, close_rows, side="left").tolist()
            sessions = self._labeller.of_array(ts) if n else np.zeros(0, np.int64)
            changes = (np.flatnonzero(sessions[1:] != sessions[:-1]) + 1).tolist()
        closes = len(close_at)
        next_close = 0
        start = 0  # the next book row not yet handed to detectors

        def close_here(a: int) -> None:
            """The bars that close before trade ``a``: first the old bar's book rows before the
            closing event (a book row once the clock passes a time bar's end, else trade ``a``)."""
            nonlocal next_close, start
            row = close_rows[next_close]
            if row > start:
                self._book_only(state, batch, book_rows, start, row, self._trade_no + a)
            start = row
            while next_close < closes and close_at[next_close] == a:
                r = close_rows[next_close]
                self._close_bar(closed, k0 + next_close, int(clock[r]), self._trade_no + a, events_before + r, state)
                next_close += 1

        for a, b in itertools.pairwise(sorted({0, n, *close_at, *changes})):
            if next_close < closes and close_at[next_close] == a:
                close_here(a)
            if next_close < closes and close_at[next_close] == b:
                stop = int(close_rows[next_close])  # the next bar closes on a book row before trade b
            else:
                stop = int(trade_rows[b]) if b < n else len(batch)
            self._slice(state, a, b, price, size, side, ts, clamped, sessions, batch, book_rows, start, stop)
            start = stop
        if next_close < closes:  # a bar closed on a book row after the batch's last trade (or with none)
            close_here(n)
        if start < len(batch):  # the book rows after it, in the next bar
            self._book_only(state, batch, book_rows, start, len(batch), self._trade_no + n)
        if next_close != closes:
            raise RuntimeError(f"bar closes at trades {close_at} not matched in a batch of {n} trades")
        self._last_ts = int(clock[-1])
        if n:
            self._trade_no += n
            self._session = int(sessions[-1])
        return self._collect()

    def on_clock(self, state: FlowState, update: FlowUpdate, ts_ns: int) -> list[Signal]:
        """Signals of the bars that closed because the feed's clock reached ``ts_ns``, the time of
        the next row, before that row is given (``FlowState.advance``): the same signals, with the
        same numbers, as when the row itself closes them, only sooner (see ``Pipeline.process``)."""
        if not update.bars_closed:
            return []
        if self._tracker is None:
            self._tracker = SessionTracker(state.settings.value_area, state.settings.value_area_method)
        clock = ts_ns if ts_ns > self._last_ts else self._last_ts
        self._close_live(state, update.bars_closed, clock, self._events)
        self._last_ts = clock
        return self._collect()

    def _close_live(self, state: FlowState, m: int, clock: int, event: int) -> _LiveCloses:
        """Close the ``m`` bars the builder just closed, all at one event (row ``event``, time ``clock``)."""
        closed = _LiveCloses(state.builder, m)
        for k in range(m):
            self._close_bar(closed, k, clock, self._trade_no, event, state)
        return closed

    def _one_row(self, state: FlowState, update: FlowUpdate, live: LiveColumns, batch: np.ndarray,
                 events_before: int) -> list[Signal]:
        """``on_update`` for a batch of one row (what a live feed mostly delivers), a trade or a book
        row that closed a bar: the bars it closed, if any, then the row, without working out cuts
        that cannot be there."""
        t = live.clock[0]
        clock = t if t > self._last_ts else self._last_ts
        m = update.bars_closed
        kind = state.builder.spec.kind
        trade = bool(live.rows)
        if m:
            closed = self._close_live(state, m, clock, events_before)
            if kind is not BarKind.TIME:  # keeps the unit count of tick and volume bars
                self._closing_rows_few(closed, m, state, [clock], live.rows, live.size)
        elif kind is not BarKind.TIME:  # the units the open tick or volume bar holds (see _closing_rows_few)
            self._units_total += live.size[0] if kind is BarKind.VOLUME else 1
        self._last_ts = clock
        if not trade:  # a book row, after the close it made: the first of the next bar
            self._book_only(state, batch, _all_book_rows, 0, 1, self._trade_no)
            return self._collect()
        sessions = [self._labeller.of(t)]
        self._slice(state, 0, 1, live.price, live.size, live.side, live.ts, [clock], sessions, batch, _no_rows, 1, 1)
        self._trade_no += 1
        self._session = sessions[0]
        return self._collect()

    def _clock_few(self, times: list[int]) -> list[int]:
        """The feed's clock at each row: times made non-decreasing from the last one seen (as the
        footprint builder does; a book row moves it too)."""
        return list(itertools.accumulate(times, max, initial=self._last_ts))[1:]

    def _closing_rows_few(self, closed: _LiveCloses | None, m: int, state: FlowState, clock: list[int],
                          trade_rows: list[int], size: list[int]) -> list[int]:
        """``_closing_rows`` with Python scalars and bisection."""
        spec = state.builder.spec
        if spec.kind is BarKind.TIME:
            if m == 0 or closed is None:
                return []
            return [bisect_left(clock, b["start_ns"] + spec.size) for b in closed.fields]
        units = size if spec.kind is BarKind.VOLUME else [1] * len(size)
        before = self._units_total - self._units_closed
        self._units_total += sum(units)
        if m == 0 or closed is None:
            return []
        per_bar = [b["volume" if spec.kind is BarKind.VOLUME else "trades"] for b in closed.fields]
        self._units_closed += sum(per_bar)
        running = list(itertools.accumulate(units))
        return [trade_rows[bisect_right(running, edge - before)] for edge in itertools.accumulate(per_bar)]

    def idle(self, state: FlowState | None = None) -> None:
        """Let detectors precompute while the feed is quiet (see ``Detector.on_idle``); with the flow
        ``state``, also make the next bar close ready if the open bar closes soon (see :meth:`_prepare_close`)."""
        if self._hooks["on_idle"]:
            self._call_all("on_idle")
        if self._last_trades is not None:
            self._warm_signal_path(self._last_trades)
        if state is None or self._tracker is None:
            return
        builder = state.builder
        within = builder.spec.size // PREPARE_WITHIN if builder.spec.kind is BarKind.TIME else 0
        if builder.closes_soon(state.last_ts, within):
            self._prepare_close(state)

    def _prepare_close(self, state: FlowState) -> None:
        """Build now what the coming bar close reads: the builder's frozen bar, the session levels
        as they stand (no trade can change them before the close), the bar's view with its rows
        and history, and whatever detectors compute in ``prepare_bar``. The close uses it only if
        no trade came in between (same bar object, same trade number); results are the same
        either way, only the work moves off the closing event's path."""
        builder = state.builder
        py = builder.prepare_close()
        if py is None:
            return
        prepared = self._prepared
        if prepared is not None and prepared.bar is py[0] and prepared.order == self._trade_no:
            return
        levels = self._tracker.frozen_levels(own_copy=True)
        history = [*builder.recent_fields(BAR_HISTORY), py[0]]
        view = BarView(_not_closed_yet, -1, 0, self._trade_no, state, levels, py, history,
                       whole_history=builder.closed_count < BAR_HISTORY)  # else a long lookback reads view.bars
        view.untraded()
        self._prepared = _PreparedClose(py[0], self._trade_no, view)
        if self._hooks["prepare_bar"]:
            self._call_all("prepare_bar", view)
        self._warm_signal_path(view)

    def _warm_signal_path(self, view: BarView | TradeView) -> None:
        """Run the code a signal goes through (emit, rule filters, Signal, ordering) once on a
        scratch hit, so it is in the CPU caches when a real one comes: run a few times a minute, it
        otherwise runs several times slower than warm (2 µs for an emit warm, 10-15 µs in the stream)."""
        scratch = _SCRATCH
        scratch.emit(view, side=1, price=0, strength=rounded(0.5), warm=rounded(0.5))
        hit = scratch.drain()[0]
        if self._drains:
            rule = self._drains[0][1][0][1]  # the first route's first (index, rule)
            rule.filters.passes(hit)
            keyed = [((hit.order, hit.phase, 0, 0), self._signal(hit, rule))]
            keyed.sort(key=_first)

    def _closing_rows(self, closed: FootprintBars | _LiveCloses | None, k0: int, m: int, state: FlowState,
                      clock: np.ndarray, trade_rows: np.ndarray, size: np.ndarray) -> list[int]:
        """For each bar closed in this batch, the row of the event that closed it: the first whose
        time reaches a time bar's end (a trade or a book row), the trade that opens the next tick or
        volume bar."""
        spec = state.builder.spec
        if spec.kind is BarKind.TIME:
            if m == 0 or closed is None:
                return []
            ends = _closed_field(closed, k0, m, "start_ns") + spec.size
            return np.searchsorted(clock, ends, side="left").tolist()
        units = size if spec.kind is BarKind.VOLUME else np.ones(len(size), np.int64)
        before = self._units_total - self._units_closed
        self._units_total += int(units.sum())
        if m == 0 or closed is None:
            return []
        per_bar = _closed_field(closed, k0, m, "volume" if spec.kind is BarKind.VOLUME else "trades")
        self._units_closed += int(per_bar.sum())
        at = np.searchsorted(np.cumsum(units), np.cumsum(per_bar) - before, side="right")
        return trade_rows[at].tolist()

    def _slice(self, state: FlowState, a: int, b: int, price: Column, size: Column, side: Column,
               ts: Column, clamped: Sequence[int], sessions: Sequence[int], batch: np.ndarray,
               book_rows: Callable[[int, int], Sequence[int]], r0: int, r1: int) -> None:
        tracker = self._tracker
        new_bar = self._new_bar
        if b > a:
            sess = int(sessions[a])
            new_session = sess != self._session
            self._session = sess
            spec = state.builder.spec
            if spec.kind is BarKind.TIME:
                bar_start = self._bar_start = int(clamped[a]) // spec.size * spec.size
            else:
                if self._bar_start is None:
                    self._bar_start = int(clamped[a])
                bar_start = self._bar_start
            cols = [ts, price, size, side] if a == 0 and b == len(ts) else [c[a:b] for c in (ts, price, size, side)]
            if b - a <= SMALL_BATCH and type(price) is not list:  # a few trades of a file batch: as lists
                cols = [c.tolist() for c in cols]
            t, p, q, d = cols
            signed, cum, vwap, sd = tracker.update(p, q, d, sess)
            view = TradeView(t, p, q, d, signed, sess, cum, vwap, sd, bar_start, new_bar, new_session,
                             self._trade_no + a, state, LevelsSource(tracker.levels))
            self._call_all("on_trades", view)
            self._last_trades = view
            self._new_bar = False
        else:
            bar_start = self._bar_start or 0
        if r1 > r0 and self._wants_book:
            index = book_rows(r0, r1)
            if len(index):
                self._book_slice(state, batch, index, bar_start, self._trade_no + b)

    def _book_only(self, state: FlowState, batch: np.ndarray, book_rows: Callable[[int, int], Sequence[int]],
                   r0: int, r1: int, order: int) -> None:
        """Book rows ``r0:r1`` with no trade among them (before a bar's closing event, or after it
        and before the next bar's first trade)."""
        if r1 > r0 and self._wants_book:
            index = book_rows(r0, r1)
            if len(index):
                self._book_slice(state, batch, index, self._bar_start or 0, order)

    def _book_slice(self, state: FlowState, batch: np.ndarray, index: Sequence[int], bar_start: int,
                    order: int) -> None:
        new_bar, self._book_new_bar = self._book_new_bar, False  # the first book rows since a bar closed
        self._call_all("on_book", BookView(batch, np.asarray(index, np.intp), bar_start, new_bar, order, state))

    def _close_bar(self, closed: FootprintBars | _LiveCloses, k: int, ts_ns: int, order: int, event: int,
                   state: FlowState) -> None:
        prepared, self._prepared = self._prepared, None
        if (prepared is not None and isinstance(closed, _LiveCloses) and k == closed.m - 1
                and closed.fields[k] is prepared.bar and order == prepared.order):
            view = prepared.view  # made while the feed was idle; this bar took no trade since
            view.ts_ns = int(ts_ns)
            view.bind_series(lambda: closed.series(k))
            self.prepared_closes += 1
        elif isinstance(closed, _LiveCloses):
            view = closed.view(k, int(ts_ns), order, state, self._tracker.frozen_levels())
        else:
            py = state.builder.last_closed() if k == len(closed) - 1 else None  # the builder's newest bar
            view = BarView(closed, k, int(ts_ns), order, state, self._tracker.frozen_levels(), py)
        view.event = event
        self._call_all("on_bar", view)
        self._new_bar = self._book_new_bar = True
        spec = state.builder.spec
        self._bar_start = ts_ns // spec.size * spec.size if spec.kind is BarKind.TIME else int(ts_ns)

    def _call_all(self, hook: str, *view: object) -> None:
        for det, rules, fn, plugin in self._hooks[hook]:
            if not plugin:
                fn(*view)
                continue
            if det in self._dead:
                continue
            try:
                fn(*view)
            except Exception as e:
                tb = traceback.format_exc()
                log.error("plugin detector %s raised and is disabled:\n%s", det.kind, tb)
                self._dead.add(det)
                self.disabled.append(DisabledDetector(det.kind, tuple(r.name for _, r in rules), repr(e), tb))

    # --- output -------------------------------------------------------------------------------
    def _collect(self) -> list[Signal]:
        keyed: list[tuple[tuple, Signal]] = []
        for det, rules, plugin in self._drains:
            if not plugin and not det._hits:  # built-ins keep Detector.drain; plugins may override it
                continue
            hits = det.drain()
            for seq, hit in enumerate(hits):
                for idx, rule in rules:
                    if rule.filters.passes(hit):
                        keyed.append(((hit.order, hit.phase, idx, seq), self._signal(hit, rule)))
        if not keyed:
            return []
        keyed.sort(key=_first)
        return [s for _, s in keyed]

    def _signal(self, hit: Hit, rule: Rule) -> Signal:
        entry = rule.action in (Action.ENTER_LONG, Action.ENTER_SHORT)
        return Signal(
            ts_ns=hit.ts_ns,
            instrument=self.symbol,
            kind=hit.kind,
            side=hit.side,
            price=hit.price,
            strength=hit.strength,
            bar_start_ns=hit.bar_start_ns,
            rule=rule.name,
            action=rule.action,
            inputs=hit.inputs,  # made fresh by emit for this hit alone
            qty=rule.qty if entry else 1,
            stop_ticks=rule.stop_ticks if entry else None,
            target_ticks=rule.target_ticks if entry else None,
            trade_seq=hit.order if hit.phase == 1 else None,  # 0: closes (event_seq), 2: book rows (time)
            event_seq=hit.event,
        )

    # --- for the UI ---------------------------------------------------------------------------
    def active_zones(self) -> list[Zone]:
        """Zones still in force: stacked-imbalance zones not traded through, auctions and zero prints
        not yet retested (oldest first; frozen records, ticks and UTC ns)."""
        out: list[Zone] = []
        for det, _ in self._routes:
            if det not in self._dead:
                out.extend(det.zones())
        return sorted(set(out), key=lambda z: (z.created_ns, z.kind, z.low))


def engine_from_file(path: str | Path, *, instrument: Instrument | str, plugins_dir: str | Path | None = None,
                     symbol: str | None = None) -> RuleEngine:
    """A RuleEngine over a rules file, with plugins from ``plugins_dir`` (if any) and the file's own list."""
    registry = registry_for(path, plugins_dir)
    return RuleEngine(load_rules(path, registry=registry).rules, instrument, registry=registry, symbol=symbol)


def registry_for(path: str | Path, plugins_dir: str | Path | None = None) -> Registry:
    """Built-ins + plugins from ``plugins_dir`` and from the ``plugins`` list of the rules file."""
    dirs = [Path(plugins_dir)] if plugins_dir is not None else []
    dirs += list(plugin_dirs_of(path))
    return load_registry(dirs)


def recent_closed_bars(builder: FootprintBuilder, count: int) -> FootprintBars:
    """The last ``count`` closed bars as a series, in O(count): the engine only needs recent bars."""
    return builder.recent(count)


def _closed_field(closed: FootprintBars | _LiveCloses, k0: int, m: int, name: str) -> np.ndarray:
    """One field of the ``m`` bars closed in a batch, as an array."""
    if isinstance(closed, _LiveCloses):
        return np.array([b[name] for b in closed.fields], np.int64)
    return getattr(closed, name)[k0 : k0 + m]


class _LiveCloses:
    """The ``m`` bars a live-sized batch closed, read from the builder's Python values; the series
    of recent bars is built only if a detector asks for ``view.bars``."""

    def __init__(self, builder: FootprintBuilder, m: int) -> None:
        self.builder, self.m = builder, m
        self.fields = builder.recent_fields(m)
        self._series: FootprintBars | None = None

    def series(self, j: int) -> tuple[FootprintBars, int]:
        if self._series is None:
            self._series = recent_closed_bars(self.builder, self.m + BAR_HISTORY)
        return self._series, len(self._series) - self.m + j

    def view(self, j: int, ts_ns: int, order: int, state: FlowState, levels: LevelsSource) -> BarView:
        py = self.builder.last_closed() if j == self.m - 1 else None
        history = self.builder.recent_fields(self.m + BAR_HISTORY)  # read here: a prepared close needs none
        if j < self.m - 1:
            history = history[: len(history) - (self.m - 1 - j)]
        return BarView(lambda: self.series(j), -1, ts_ns, order, state, levels, py, history)


@dataclass(slots=True)
class _PreparedClose:
    """A bar close made ready while the feed was idle: valid for this frozen bar at this trade number."""

    bar: dict[str, int]  # the builder's frozen fields (identity: the close reused them)
    order: int  # the engine's trade count when prepared: the same at the close if no trade came since
    view: BarView


class _Scratch(Detector):
    kind = "warm_up"


_SCRATCH = _Scratch()


def _first(kv: tuple) -> tuple:
    return kv[0]


def _no_rows(r0: int, r1: int) -> list[int]:
    return []


def _all_book_rows(r0: int, r1: int) -> list[int]:
    return list(range(r0, r1))


def _not_closed_yet() -> tuple[FootprintBars, int]:
    raise RuntimeError("view.bars is not available in prepare_bar: the bar has not closed yet "
                       "(read bar(), columns(), history() or the levels)")


def _builtins() -> dict[str, type[Detector]]:
    from tapeflow.signals.detectors import BUILTINS

    return BUILTINS


def _builtin_kinds() -> set[str]:
    return set(_builtins())


def run_rules(events: np.ndarray, rules: Sequence[Rule] | RuleSet | str | Path, instrument: Instrument | str, *,
              bar: str = "1m", batch_size: int = 65_536, registry: Registry | None = None,
              symbol: str | None = None) -> list[Signal]:
    """Every signal the rules fire over a whole event array (fed to a FlowState batch by batch)."""
    engine = RuleEngine(rules, instrument, registry=registry, symbol=symbol)
    state = FlowState(engine.instrument, FlowSettings(bar=bar))
    out: list[Signal] = []
    for i in range(0, len(events), batch_size):
        batch = events[i : i + batch_size]
        out.extend(engine.on_update(state, state.update(batch), batch))
    return out
