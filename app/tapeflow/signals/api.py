"""The detector API: what built-in detectors and plugins implement, and what they receive.

A detector is a class with a snake_case ``kind`` (the name rules use and the ``kind`` of the
signals it emits), a frozen dataclass ``Params`` of documented parameters with defaults (declared
with :func:`param`, so the UI can list them), and up to three hooks the engine calls in event order:

- ``on_trades(view: TradeView)``: the trades of one batch that belong to one footprint bar and
  one session (a batch is cut where bars close and sessions change, so a detector never sees
  trades of two bars at once);
- ``on_book(view: BookView)``: the book rows (LEVEL/ORDER/CLEAR) of that same slice;
- ``on_bar(view: BarView)``: a footprint bar has just closed;
- optionally ``prepare_bar(view)`` and ``on_idle()``: precomputation while the feed is quiet, off the
  path of the event that fires (never changes what is reported).

It reports with ``self.emit(...)``; the engine turns each emission into one :class:`Signal` per
rule that uses the detector and whose filters pass. Everything is in ticks, contracts and UTC ns.
A detector keeps its own state between calls and never reads the wall clock, so live, replay
and backtest produce the same signals.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import floor as _floor
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import numpy as np

from tapeflow.core.events import Side
from tapeflow.flow.profile import ProfileSummary

if TYPE_CHECKING:
    from tapeflow.flow.footprint import FootprintBars
    from tapeflow.flow.state import FlowState
    from tapeflow.signals.zones import Zone

InputValue = float | int | str
Column = list | np.ndarray  # a TradeView column: a Python list (a few trades) or a numpy array


def param(default: Any, doc: str, *, min: float | None = None, max: float | None = None,
          choices: tuple[str, ...] | None = None) -> Any:
    """Declare one detector parameter: its default, a one-line description (with units) and bounds.

    Use inside a frozen dataclass: ``ratio: float = param(3.0, "ask/bid diagonal ratio", min=1.0)``.
    """
    meta = {"doc": doc, "min": min, "max": max, "choices": choices}
    if isinstance(default, list | dict | set):
        raise TypeError("parameters must be immutable; use a tuple")
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """One parameter as the UI shows it."""

    name: str
    type: str
    default: Any
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NoParams:
    """A detector without parameters."""


def describe_params(params_cls: type) -> list[ParamInfo]:
    """The declared parameters of a ``Params`` dataclass, in declaration order."""
    out = []
    for f in dataclasses.fields(params_cls):
        m = f.metadata
        tname = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        out.append(ParamInfo(f.name, tname, f.default, m.get("doc", ""), m.get("min"), m.get("max"),
                             m.get("choices")))
    return out


class Hit(msgspec.Struct, frozen=True):
    """One emission of a detector, before rules wrap it into signals (a Struct: made on the
    signal's path, ten times cheaper than a frozen dataclass)."""

    kind: str
    ts_ns: int
    side: Side
    price: int  # ticks
    strength: float
    bar_start_ns: int
    order: int  # global trade number the hit is tied to (engine ordering key)
    phase: int  # 0: bar close, 1: trade, 2: book
    bar_volume: int | None  # contracts of the bar it refers to, for the min-bar-volume filter
    inputs: dict[str, InputValue]
    event: int | None = None  # bar closes: the run's row number of the event that closed the bar


@dataclass(frozen=True, slots=True)
class SessionLevels:
    """Reference levels of the session at the moment a hook runs (ticks; None when unknown)."""

    profile: ProfileSummary | None  # developing session profile, including the current slice
    prior: ProfileSummary | None  # the previous session's profile

    def named(self) -> dict[str, int]:
        """Levels by the names the location filters use: poc, vah, val, prior_poc, prior_high, ..."""
        out: dict[str, int] = {}
        if self.profile is not None:
            p = self.profile
            out.update(poc=p.poc, vah=p.vah, val=p.val, session_high=p.high, session_low=p.low)
        if self.prior is not None:
            q = self.prior
            out.update(prior_poc=q.poc, prior_vah=q.vah, prior_val=q.val, prior_high=q.high, prior_low=q.low)
        return out

    def hvns(self) -> tuple[int, ...]:
        """High-volume nodes of the developing and the prior session."""
        a = self.profile.hvn if self.profile is not None else ()
        b = self.prior.hvn if self.prior is not None else ()
        return a + b


class LevelsSource:
    """Lazily computed :class:`SessionLevels` (a profile summary costs tens of µs; most hooks skip it).

    ``poc()`` and ``hvn()`` give the developing profile's POC and high-volume nodes alone; a source
    that can compute them for less than a whole summary (the engine's, at bar closes) overrides them.
    """

    def __init__(self, compute: Any) -> None:
        self._compute = compute
        self._value: SessionLevels | None = None

    def get(self) -> SessionLevels:
        if self._value is None:
            self._value = self._compute()
        return self._value

    @property
    def prior(self) -> ProfileSummary | None:
        return self.get().prior

    def poc(self) -> int | None:
        """Developing POC, ticks (None before the session's first trade)."""
        p = self.get().profile
        return p.poc if p is not None else None

    def hvn(self) -> tuple[int, ...]:
        """Developing high-volume nodes, ticks."""
        p = self.get().profile
        return p.hvn if p is not None else ()


class BarView:
    """A footprint bar that has just closed: ``bars`` holds the recent closed bars (this one is ``i``,
    with at least 256 before it when the session has them); ``history(k)`` gives the fields of this
    bar and the ``k`` before it as Python ints (cheaper, and all most checks need).

    Every detector reads the same view, so ``bar()``, ``rows()`` and derived per-bar figures are
    computed once and shared (treat what they return as read-only).
    """

    __slots__ = ("_bar", "_bars", "_columns", "_history", "_i", "_levels", "_py_rows", "_rows", "_source",
                 "_whole_history", "event", "memo", "order", "state", "ts_ns")

    def __init__(self, bars: FootprintBars | Callable[[], tuple[FootprintBars, int]], i: int, ts_ns: int,
                 order: int, state: FlowState, levels: LevelsSource,
                 py: tuple[dict[str, int], Sequence[Sequence[int]]] | None = None,
                 history: Sequence[dict[str, int]] | None = None, *, whole_history: bool = False) -> None:
        """``bars`` may be a callable giving (series, index) on first use: the live path then never
        builds a series unless a detector reads it. ``py``: the same bar as Python values (fields;
        per tick bid, ask, unknown, count), when the builder still has them. ``history``: fields of
        closed bars as Python values, oldest first, ending with this bar; ``whole_history``: it holds
        every closed bar there is (so a longer lookback needs no series)."""
        self._bars, self._i = (None, -1) if callable(bars) else (bars, i)
        self._source = bars if callable(bars) else None
        self.ts_ns, self.order, self.state = ts_ns, order, state  # state: as of the batch (engine module doc)
        self.event: int | None = None  # the run's row number of the closing event (set by the engine)
        self._levels = levels
        self._bar: dict[str, int] | None = dict(py[0]) if py is not None else None
        self._py_rows = py[1] if py is not None else None
        self._history, self._whole_history = history, whole_history
        self._rows: dict[str, np.ndarray] | None = None
        self._columns: dict[str, list[int]] | None = None
        self.memo: dict[Any, Any] = {}  # per-bar results shared between detectors, keyed by what they depend on

    def bind_series(self, source: Callable[[], tuple[FootprintBars, int]]) -> None:
        """Where ``bars`` comes from (a view made before its bar closed gets it at the close)."""
        self._bars, self._i, self._source = None, -1, source

    @property
    def bars(self) -> FootprintBars:
        if self._bars is None:
            self._bars, self._i = self._source()
        return self._bars

    @property
    def i(self) -> int:
        if self._bars is None:
            self._bars, self._i = self._source()
        return self._i

    def history(self, count: int) -> list[dict[str, int]]:
        """Fields of up to ``count`` closed bars before this one, then this one (oldest first)."""
        if self._history is not None and (count < len(self._history) or self._whole_history):
            return list(self._history[len(self._history) - count - 1 :])
        bars, i = self.bars, self.i
        return [bars.bar(k) for k in range(max(0, i - count), i + 1)]

    @property
    def levels(self) -> SessionLevels:
        return self._levels.get()

    @property
    def levels_source(self) -> LevelsSource:
        return self._levels

    def bar(self) -> dict[str, int]:
        if self._bar is None:
            self._bar = dict(self._history[-1]) if self._history else self.bars.bar(self.i)
        return self._bar

    def rows(self) -> dict[str, np.ndarray]:
        """Per-tick rows of the bar, low to high: price, bid, ask, unknown, count."""
        if self._rows is None:
            self._rows = self.bars.rows(self.i)
        return self._rows

    def remember(self, key: Any, make: Callable[[], Any]) -> Any:
        """``memo[key]``, made by ``make()`` the first time it is asked for (per-bar results shared
        between detectors, or worked out ahead in ``prepare_bar``: the key says what they depend on)."""
        got = self.memo.get(key)
        if got is None:
            got = self.memo[key] = make()
        return got

    def untraded(self) -> list[int]:
        """Prices inside the bar's range with no volume at all (zero prints), low to high."""
        return self.remember("untraded", self._untraded)

    def _untraded(self) -> list[int]:
        cols = self.columns()
        return [p for p, b, a, u in zip(cols["price"], cols["bid"], cols["ask"], cols["unknown"], strict=True)
                if not (b or a or u)]

    def columns(self) -> dict[str, list[int]]:
        """``rows()`` as Python lists: a bar has tens of rows, where plain Python beats numpy calls."""
        if self._columns is None:
            if self._py_rows is not None:
                bar = self.bar()
                bid, ask, unknown, count = (list(c) for c in zip(*self._py_rows, strict=True))
                price = list(range(bar["low"], bar["high"] + 1))
                self._columns = {"price": price, "bid": bid, "ask": ask, "unknown": unknown, "count": count}
            else:
                self._columns = {k: v.tolist() for k, v in self.rows().items()}
        return self._columns


_TRADE_COLUMNS = (("ts", np.int64), ("price", np.int64), ("size", np.int64), ("side", np.int8),
                  ("signed", np.int64), ("cum_delta", np.int64), ("vwap", np.float64), ("vwap_sd", np.float64))


class TradeView:
    """Trades of one batch inside one footprint bar (columns, time order).

    Each column is there as a numpy array (``price``) and as a Python list (``price_list``). The
    engine hands over whichever it has: lists for a live slice of a few trades (``few`` is True),
    arrays for file batches; the other form is made on first use and kept. A detector looking at
    a few trades reads the lists, where numpy's fixed cost per call would be most of the work.

    Columns: ``ts`` (int64 UTC ns), ``price`` (ticks), ``size`` (contracts), ``side`` (int8
    aggressor: 1 buy, -1 sell, 0 unknown), ``signed`` (size signed by the aggressor, 0 for unknown),
    ``cum_delta`` (session cumulative delta after each trade, contracts), ``vwap`` and ``vwap_sd``
    (session VWAP and its volume-weighted standard deviation after each trade, ticks). The last
    three come from the engine's own trackers, so they are exact whatever the batch boundaries.
    """

    __slots__ = ("_levels", "bar_is_new", "bar_start_ns", "first_order", "n", "session", "session_is_new", "state")
    few: ClassVar[bool]
    ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    side: np.ndarray
    signed: np.ndarray
    cum_delta: np.ndarray
    vwap: np.ndarray
    vwap_sd: np.ndarray
    ts_list: list[int]
    price_list: list[int]
    size_list: list[int]
    side_list: list[int]
    signed_list: list[int]
    cum_delta_list: list[int]
    vwap_list: list[float]
    vwap_sd_list: list[float]

    def __new__(cls, *args: Any, **kw: Any) -> TradeView:
        if cls is TradeView:  # lists or arrays: the subclass that holds them as plain attributes
            price = args[1] if len(args) > 1 else kw["price"]
            cls = _ListTrades if type(price) is list else _ArrayTrades
        return object.__new__(cls)

    def __init__(self, ts: Column, price: Column, size: Column, side: Column, signed: Column, session: int,
                 cum_delta: Column, vwap: Column, vwap_sd: Column, bar_start_ns: int, bar_is_new: bool,
                 session_is_new: bool, first_order: int, state: FlowState, levels: LevelsSource) -> None:
        self._columns(ts, price, size, side, signed, cum_delta, vwap, vwap_sd)
        self.n = len(price)
        self.session = session  # trading-date ordinal of every trade in the slice, -1 outside sessions
        self.bar_start_ns = bar_start_ns  # start of the footprint bar these trades belong to
        self.bar_is_new = bar_is_new  # True when this slice starts a new bar (per-bar accumulators reset)
        self.session_is_new = session_is_new  # True when this slice starts a new session
        self.first_order = first_order  # global number of the first trade (ordering key for emit)
        self.state = state
        self._levels = levels

    def _columns(self, *columns: Column) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.n

    @property
    def levels(self) -> SessionLevels:
        return self._levels.get()


def _made_from(source: str, make: Callable[[Any], Any]) -> property:
    """A column made on first use from its other form (attribute ``source``), then kept."""
    cache = f"_{source}_made"

    def get(view: TradeView) -> Any:
        made = view._made  # type: ignore[attr-defined]
        got = made.get(cache)
        if got is None:
            got = made[cache] = make(getattr(view, source))
        return got

    return property(get)


class _ListTrades(TradeView):
    """A live slice: the columns are Python lists; arrays are made on first use."""

    __slots__ = ("_made", *(f"{name}_list" for name, _ in _TRADE_COLUMNS))
    few = True

    def _columns(self, *columns: Column) -> None:
        (self.ts_list, self.price_list, self.size_list, self.side_list, self.signed_list, self.cum_delta_list,
         self.vwap_list, self.vwap_sd_list) = columns
        self._made: dict[str, np.ndarray] = {}


class _ArrayTrades(TradeView):
    """A file batch's slice: the columns are numpy arrays; lists are made on first use."""

    __slots__ = ("_made", *(name for name, _ in _TRADE_COLUMNS))
    few = False

    def _columns(self, *columns: Column) -> None:
        (self.ts, self.price, self.size, self.side, self.signed, self.cum_delta, self.vwap,
         self.vwap_sd) = columns
        self._made: dict[str, list] = {}


for _name, _dtype in _TRADE_COLUMNS:
    setattr(_ListTrades, _name, _made_from(f"{_name}_list", lambda v, dt=_dtype: np.array(v, dt)))
    setattr(_ArrayTrades, f"{_name}_list", _made_from(_name, np.ndarray.tolist))


class BookView:
    """Book rows of one batch inside one footprint bar (source order).

    ``rows`` (EVENT_DTYPE LEVEL/ORDER/CLEAR rows) is gathered on first use: copying structured rows
    is the costly part, and most detectors never look. ``state.book`` is the book after the whole
    batch; the rows let a detector follow the changes inside the bar (e.g. refreshes at one price).
    """

    __slots__ = ("_batch", "_index", "_rows", "bar_is_new", "bar_start_ns", "first_order", "state")

    def __init__(self, batch: np.ndarray, index: np.ndarray, bar_start_ns: int, bar_is_new: bool,
                 first_order: int, state: FlowState) -> None:
        self._batch, self._index, self._rows = batch, index, None
        self.bar_start_ns, self.bar_is_new, self.first_order, self.state = bar_start_ns, bar_is_new, first_order, state

    @property
    def rows(self) -> np.ndarray:
        if self._rows is None:
            self._rows = self._batch[self._index]
        return self._rows

    @property
    def last_ts(self) -> int:
        return int(self._batch["ts_event"][self._index[-1]]) if len(self._index) else 0


class Detector:
    """Base class of every detector, built in or plugin. Override the hooks you need.

    Subclasses set ``kind`` (snake_case, unique), ``Params`` (a frozen dataclass declared with
    :func:`param`) and optionally ``summary`` (one line for the UI). The engine constructs one
    instance per distinct (kind, params) and calls the hooks in event order. ``zones()`` returns the
    price zones the detector is still watching (for the UI), if any.
    """

    kind: ClassVar[str] = ""
    Params: ClassVar[type] = NoParams
    summary: ClassVar[str] = ""

    def __init__(self, params: Any = None) -> None:
        self.params = params if params is not None else self.Params()
        self._hits: list[Hit] = []

    # --- hooks ----------------------------------------------------------------------------
    def on_trades(self, view: TradeView) -> None:
        """Trades of one bar slice, in time order."""

    def on_book(self, view: BookView) -> None:
        """Book rows of one bar slice, in source order."""

    def on_bar(self, view: BarView) -> None:
        """A bar has closed."""

    def prepare_bar(self, view: BarView) -> None:
        """The feed is idle and the open bar is about to close (maybe at the next trade): compute into
        ``view.memo`` what ``on_bar`` will read, so the close itself costs less. ``view`` is the very
        object ``on_bar`` receives if no trade comes in between (else the work is dropped). Read only
        ``bar()``, ``columns()``, ``history()`` and the levels (not ``bars``, ``ts_ns`` or ``order``,
        not known yet); memo keys must say what the value depends on. Must not emit or change state."""

    def on_idle(self) -> None:
        """The feed has nothing waiting: precompute what a coming hook will need, so the work is not
        on the path of the event that makes a signal fire. Must not emit, and must not change what
        the detector reports (a backtest never calls it, and gives the same signals)."""

    def zones(self) -> list[Zone]:
        """Zones still active (support/resistance, levels awaiting a retest)."""
        return []

    # --- output ---------------------------------------------------------------------------
    def emit(self, view: BarView | TradeView | BookView, *, side: Side | int, price: int, strength: float,
             index: int | None = None, kind: str | None = None, bar_start_ns: int | None = None,
             **inputs: InputValue) -> None:
        """Report one finding. ``index``: the trade of a ``TradeView`` it belongs to (sets its time).

        ``inputs`` are the numbers that made it fire (shown to the user and journaled).
        """
        event = None
        if isinstance(view, TradeView):  # most signals: a trade crossed something
            j = len(view) - 1 if index is None else int(index)
            ts, order, phase = view.ts_list[j], view.first_order + j, 1
            bar_start, bar_volume = view.bar_start_ns, None
        elif isinstance(view, BarView):
            ts, order, phase, event = view.ts_ns, view.order, 0, view.event
            bar = view.bar()
            bar_start = bar["start_ns"]
            bar_volume: int | None = bar["volume"]
        else:
            ts = view.last_ts
            order, phase, bar_start, bar_volume = view.first_order, 2, view.bar_start_ns, None
        for k, v in inputs.items():  # ``inputs`` is this call's own dict: made plain in place
            if type(v) not in _PLAIN:
                inputs[k] = _plain(v)
        self._hits.append(Hit(kind or self.kind, ts, _SIDES[int(side)], int(price), float(strength),
                              bar_start if bar_start_ns is None else int(bar_start_ns), order, phase, bar_volume,
                              inputs, event))

    def emit_found(self, view: BarView, found: Sequence[tuple[Side | int, int, float, dict[str, InputValue]]]) -> None:
        """``emit`` each (side, price, strength, inputs) of a bar's findings worked out ahead."""
        for side, price, strength, inputs in found:
            self.emit(view, side=side, price=price, strength=strength, **inputs)

    def drain(self) -> list[Hit]:
        """Hand the emitted hits to the engine (and forget them)."""
        out, self._hits = self._hits, []
        return out


_SIDES = {int(s): s for s in Side}
_PLAIN = frozenset({int, float, str})


def rounded(x: float) -> float:
    """``x`` to 4 decimal places, the precision signals report strengths and inputs in (half up).

    Not ``round(x, 4)``: that goes through decimal conversion, which costs 5-15 µs when it runs
    once a signal on a live feed (out of the CPU caches), against well under 1 µs for this."""
    try:
        return _floor(x * 10000.0 + 0.5) / 10000.0
    except (OverflowError, ValueError):  # inf, nan: as they are
        return float(x)


def _plain(v: Any) -> InputValue:
    t = type(v)
    if t is int or t is float or t is str:  # the usual case, first
        return v
    if isinstance(v, np.integer | bool):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, int | float | str):
        return v
    return str(v)
