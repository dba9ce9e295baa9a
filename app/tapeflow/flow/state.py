"""All order-flow state of one instrument, updated batch by batch: the ``flow/`` stage of the pipeline.

One object holds the footprint builder, the DOM book, the session volume profile (archived at each
session change so "prior session" levels are available), the recent tape and the last trade.
Live, replay and backtest feed it the same batches; the rule engine and the UI read it. The UI
reads through :meth:`FlowState.snapshot`, never per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from typing import NamedTuple

import numpy as np

from tapeflow.core.arrays import sealed
from tapeflow.core.events import EVENT_DTYPE, K_TRADE, concat, put, select
from tapeflow.core.instruments import Instrument
from tapeflow.core.sessions import SessionLabeller
from tapeflow.flow.bars import BarSpec, parse_bar_spec
from tapeflow.flow.book import DepthSnapshot, OrderBook
from tapeflow.flow.delta import CumReset
from tapeflow.flow.footprint import FootprintBars
from tapeflow.flow.footprint_stream import FootprintBuilder
from tapeflow.flow.profile import ProfileSummary, VolumeProfile
from tapeflow.flow.value_area import DEFAULT_VALUE_AREA, DEFAULT_VALUE_AREA_METHOD

MAX_UNSETTLED = 64
"""Live batches whose trades may wait for ``FlowState.settle`` (then it runs in line)."""
SMALL_BATCH = 64
"""Batches up to this many rows take the scalar path (live feeds deliver a few rows at a time; up to
about this size plain Python beats numpy's fixed cost per call)."""


@dataclass(frozen=True, slots=True)
class FlowUpdate:
    """What one batch changed, so consumers do only the work that is due."""

    trades: int  # trades in the batch
    bars_closed: int  # bars that closed during the batch (the last ones of ``FlowState.bars()``)
    new_session: bool  # a session boundary was crossed (profile archived, DOM volume reset)
    last_ts: int | None  # exchange time of the last event in the batch


@dataclass(frozen=True, slots=True)
class FlowSnapshot:
    """Immutable view for the UI at frame rate."""

    bars: FootprintBars
    depth: DepthSnapshot
    profile_prices: np.ndarray
    profile_bid: np.ndarray
    profile_ask: np.ndarray
    profile_summary: ProfileView  # what ``profile`` reads
    prior_profile: ProfileSummary | None
    tape: np.ndarray  # most recent trades, oldest first (EVENT_DTYPE rows)
    last_price: int | None
    last_ts: int | None
    session: int  # trading-date ordinal of the current session (-1 before any trade)
    events_seen: int

    @property
    def profile(self) -> ProfileSummary | None:
        """The session profile's summary (POC, value area, nodes) as of the snapshot: worked out
        when first read, from the profile's columns copied then (a frame that does not draw the
        profile does not pay for its value area and nodes)."""
        return self.profile_summary.get()


class ProfileView:
    """A profile's summary made on first :meth:`get` from a frozen copy of the profile."""

    __slots__ = ("_profile", "_summary")

    def __init__(self, frozen: VolumeProfile) -> None:
        self._profile: VolumeProfile | None = frozen
        self._summary: ProfileSummary | None = None

    def get(self) -> ProfileSummary | None:
        if self._profile is not None:
            self._summary = self._profile.summary()
            self._profile = None  # the copy is no longer needed
        return self._summary


@dataclass
class FlowSettings:
    bar: str = "1m"
    value_area: float = DEFAULT_VALUE_AREA
    value_area_method: str = DEFAULT_VALUE_AREA_METHOD  # "two_row" (CBOT) or "one_row"
    cum_reset: CumReset = CumReset.SESSION
    tape_length: int = 2000
    depth_levels: int = 10

    @property
    def bar_spec(self) -> BarSpec:
        return parse_bar_spec(self.bar)


@dataclass
class FlowState:
    instrument: Instrument
    settings: FlowSettings = field(default_factory=FlowSettings)

    def __post_init__(self) -> None:
        s = self.settings
        self.builder = FootprintBuilder(
            s.bar_spec, value_area=s.value_area, value_area_method=s.value_area_method, cum_reset=s.cum_reset
        )
        self.book = OrderBook()
        self._profile = VolumeProfile(value_area=s.value_area, value_area_method=s.value_area_method)
        self.prior_profiles: list[ProfileSummary] = []
        self.session = -1
        self.last_price: int | None = None
        self.last_ts: int | None = None
        self.events_seen = 0
        self._tape = np.zeros(2 * s.tape_length, EVENT_DTYPE)
        self._tape_n = 0
        self._trades_in = 0  # trades pushed to the tape so far: what snapshot caches are keyed on
        self._snap_tape: tuple[int, np.ndarray] | None = None  # (trades_in, read-only tape)
        self._snap_bars: tuple[int, FootprintBars, FootprintBars] | None = None  # (trades_in, closed, bars)
        self._snap_profile: tuple[tuple, tuple] | None = None  # (profile key, (prices, bid, ask, summary view))
        self._sessions = SessionLabeller()
        self._live: LiveColumns | None = None  # the lists of the last live-sized batch
        self._unsettled: list[LiveColumns] = []  # live trades not yet on the tape and the profile (``settle``)

    @property
    def profile(self) -> VolumeProfile:
        """The session volume profile (every trade so far in it)."""
        self.settle()
        return self._profile

    def settle(self) -> None:
        """Put the live trades taken since the last call on the tape and the session profile.

        Neither is read by the rule engine, so a live batch only queues its trades and returns (its
        signals go out ~10 µs sooner); every reader of the tape or the profile settles first, the
        pipeline settles when the feed is idle, and the queue never holds more than
        ``MAX_UNSETTLED`` batches (a backtest at live batch sizes never idles)."""
        pending = self._unsettled
        if not pending:
            return
        self._unsettled = []
        add = self._profile.add_one
        for cols in pending:
            for p, q, d in zip(cols.price, cols.size, cols.side, strict=True):
                add(p, q, d)
        self._push_tape(pending[0].trades if len(pending) == 1 else concat([c.trades for c in pending]))

    def update(self, batch: np.ndarray) -> FlowUpdate:
        """Apply one batch in source order; returns what changed."""
        if len(batch) == 0:
            return FlowUpdate(0, 0, False, self.last_ts)
        if len(batch) <= SMALL_BATCH:
            return self._update_small(batch)
        self.settle()
        self.events_seen += len(batch)
        is_trade = batch["kind"] == K_TRADE
        trades = select(batch, is_trade)
        new_session = False
        book_from = 0  # rows before a session change go to the book before its traded volume resets
        if len(trades):
            trade_rows = None
            for sess, seg in self._session_runs(trades["ts_event"]):
                if sess != -1 and sess != self.session:
                    trade_rows = np.flatnonzero(is_trade) if trade_rows is None else trade_rows
                    cut = int(trade_rows[seg.start])
                    self.book.apply(batch[book_from:cut])
                    book_from = cut
                    new_session |= self._start_session(sess)
                self._profile.add(trades[seg])
            self.last_price = int(trades["price"][-1])
            self._push_tape(trades)
        self.book.apply(batch[book_from:])
        closed = self.builder.update(batch)
        self.last_ts = int(batch["ts_event"][-1])
        return FlowUpdate(len(trades), closed, new_session, self.last_ts)

    def _update_small(self, batch: np.ndarray) -> FlowUpdate:
        """``update`` for a live-sized batch, with Python scalars: numpy's fixed cost per call (1-3 µs
        here) would otherwise be most of the cost of a batch of a few rows. Same resulting state."""
        self.events_seen += len(batch)
        cols = self.live_columns(batch)
        clock = cols.clock
        last_ts = self.last_ts = clock[-1]
        if not cols.rows:  # book rows only: they may still close a time bar (its end passed)
            self.book.apply(batch)
            return FlowUpdate(0, self.builder.advance(max(clock)), False, last_ts)
        rows, ts, price, size, side = cols.rows, cols.ts, cols.price, cols.size, cols.side
        new_session = False
        book_from = 0
        session_of, current = self._sessions.of, self.session
        if all(session_of(t) in (-1, current) for t in ts):  # no session change (all but one batch a day)
            self._unsettled.append(cols)  # tape and profile: see ``settle``
            if len(self._unsettled) >= MAX_UNSETTLED:
                self.settle()
        else:
            self.settle()
            add = self._profile.add_one
            for row, t, p, q, d in zip(rows, ts, price, size, side, strict=True):
                sess = session_of(t)
                if sess != -1 and sess != self.session:
                    self.book.apply(batch[book_from:row])
                    book_from = row
                    new_session |= self._start_session(sess)
                add(p, q, d)
            self._push_tape(cols.trades)
        if book_from == 0 and len(rows) == len(batch):  # trades only: the lists are at hand
            self.book.add_trades_few(batch, side, price, size)
        else:
            self.book.apply(batch[book_from:])
        self.last_price = price[-1]
        builder = self.builder
        if len(rows) == len(clock):  # trades only (the builder keeps its clock monotonic itself)
            closed = builder.add_trades(ts, price, size, side)
        else:  # each trade at the feed's clock when it came: book rows before it may have moved it
            run = list(accumulate(clock, max))
            closed = builder.add_trades([run[r] for r in rows], price, size, side)
            closed += builder.advance(run[-1])  # book rows after the last trade
        return FlowUpdate(len(ts), closed, new_session, last_ts)

    def closing_row(self, batch: np.ndarray) -> int:
        """The first row of ``batch`` whose time reaches the open time bar's end (the event that will
        close it), or -1."""
        end = self.builder.open_bar_end
        if end is None:
            return -1
        for i, t in enumerate(self.live_columns(batch).clock):  # read once: ``update`` reuses the lists
            if t >= end:
                return i
        return -1

    def advance(self, ts: int) -> FlowUpdate:
        """The feed's clock reached ``ts`` (the time of the next row, not applied yet): close the
        time bar that ends by then. The row itself comes next through ``update``."""
        return FlowUpdate(0, self.builder.advance(ts), False, self.last_ts)

    def live_columns(self, batch: np.ndarray) -> LiveColumns:
        """The Python lists of a live-sized batch, read once whoever asks first (this state when it
        takes the batch, or the rule engine when the pipeline runs it first)."""
        got = self._live
        if got is None or got.batch is not batch:
            got = self._live = live_columns_of(batch)
        return got

    def _session_runs(self, ts: np.ndarray) -> list[tuple[int, slice]]:
        """(session ordinal, slice) runs of a batch."""
        labels = self._sessions.of_array(ts)
        return [(int(labels[seg.start]), seg) for seg in _runs(labels)]

    def _start_session(self, session: int) -> bool:
        first = self.session == -1
        if not first:
            summary = self._profile.summary()
            if summary is not None:
                self.prior_profiles.append(summary)
            self._profile.reset()
            self.book.reset_volume()
        self.session = session
        return not first

    def _push_tape(self, trades: np.ndarray) -> None:
        cap = len(self._tape) // 2
        trades = trades[-cap:]
        if self._tape_n + len(trades) > len(self._tape):
            keep = select(self._tape, slice(self._tape_n - (cap - len(trades)), self._tape_n)).copy()
            put(self._tape, 0, keep)
            self._tape_n = len(keep)
        put(self._tape, self._tape_n, trades)  # byte copies: structured assignment goes field by field
        self._tape_n += len(trades)
        self._trades_in += len(trades)

    def tape(self, n: int | None = None) -> np.ndarray:
        """The last ``n`` trades (default: the configured tape length), oldest first, a copy."""
        self.settle()
        cap = len(self._tape) // 2
        n = cap if n is None else min(n, cap)
        return concat([self._tape[max(0, self._tape_n - n) : self._tape_n]])  # one byte copy (10x a structured copy)

    def bars(self) -> FootprintBars:
        return self.builder.bars()

    @property
    def prior_profile(self) -> ProfileSummary | None:
        return self.prior_profiles[-1] if self.prior_profiles else None

    def snapshot(self) -> FlowSnapshot:
        """An immutable view of the state now. What did not change since the last snapshot is
        handed out again (every array in it is read-only): the tape and the bars are rebuilt only
        when trades came (or a bar closed), the profile arrays and summary only when the profile
        changed, so a frame with nothing new costs little more than the book depth."""
        self.settle()
        prices, bid, ask, summary = self._profile_view()
        return FlowSnapshot(
            bars=self._bars_view(),
            depth=self.book.depth(self.settings.depth_levels),
            profile_prices=prices,
            profile_bid=bid,
            profile_ask=ask,
            profile_summary=summary,
            prior_profile=self.prior_profile,
            tape=self._tape_view(),
            last_price=self.last_price,
            last_ts=self.last_ts,
            session=self.session,
            events_seen=self.events_seen,
        )

    def _tape_view(self) -> np.ndarray:
        got = self._snap_tape
        if got is not None and got[0] == self._trades_in:
            return got[1]
        tape = sealed(self.tape())
        self._snap_tape = (self._trades_in, tape)
        return tape

    def _bars_view(self) -> FootprintBars:
        """``builder.bars()``, made again only when trades came or a bar closed (the open bar
        changes only with a trade; a close on a later event's time makes a new closed series)."""
        closed = self.builder.bars(include_open=False)  # the builder's cached series until a close
        got = self._snap_bars
        if got is not None and got[0] == self._trades_in and got[1] is closed:
            return got[2]
        bars = self.builder.bars()
        self._snap_bars = (self._trades_in, closed, bars)
        return bars

    def _profile_view(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, ProfileView]:
        prof = self._profile
        key = (prof.version, prof.value_area, prof.value_area_method, prof.node_window, prof.hvn_ratio, prof.lvn_ratio)
        got = self._snap_profile
        if got is not None and got[0] == key:
            return got[1]
        frozen = prof.copy()  # its columns are the snapshot's, and what the summary is made from
        view = (sealed(prof.prices), sealed(frozen.bid), sealed(frozen.ask), ProfileView(frozen))
        self._snap_profile = (key, view)
        return view


class LiveColumns(NamedTuple):
    """A live-sized batch as Python lists: every row's kind and time, the rows that are trades, and
    those trades' time, price, size and aggressor side (read once, shared by the flow state and the engine)."""

    batch: np.ndarray
    trades: np.ndarray  # its trade rows
    kinds: list[int]
    clock: list[int]  # every row's exchange time
    rows: list[int]
    ts: list[int]
    price: list[int]
    size: list[int]
    side: list[int]


_NO_TRADES = np.zeros(0, EVENT_DTYPE)


def live_columns_of(batch: np.ndarray) -> LiveColumns:
    kinds = batch["kind"].tolist()
    clock = batch["ts_event"].tolist()
    if K_TRADE not in kinds:  # most live batches: book rows only (``_make``: the tuple's C constructor)
        return LiveColumns._make((batch, _NO_TRADES, kinds, clock, [], [], [], [], []))
    rows = [i for i, k in enumerate(kinds) if k == K_TRADE]
    if len(rows) == len(kinds):
        trades, ts = batch, clock
    else:
        trades = select(batch, rows)
        ts = [clock[r] for r in rows]
    price, size, side = (trades[f].tolist() for f in ("price", "size", "side"))
    return LiveColumns._make((batch, trades, kinds, clock, rows, ts, price, size, side))


def _runs(labels: np.ndarray) -> list[slice]:
    """Slices of equal consecutive labels."""
    cuts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    bounds = [0, *cuts.tolist(), len(labels)]
    return [slice(a, b) for a, b in pairwise(bounds)]
