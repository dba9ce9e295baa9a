"""Drive the terminal's own :class:`~tapeflow.pipeline.Pipeline` over files: the backtest.

Nothing here re-implements a stage: files are opened with the same adapters, batches go through
``Pipeline.process`` (flow -> paper broker -> rules -> auto-trader -> risk), and the account,
paper broker and ledger are the ones the GUI's paper mode uses. What this module adds is
bookkeeping: it records every signal, what the auto-trader did with it, and every fill.

A backtest is one or several instruments over consecutive files (days, contract months): one
pipeline per instrument, all on one account and paper broker (see :mod:`tapeflow.backtest.multi`).
The flow stage takes every row of a batch whatever its ``instrument_id``; each pipeline hands its
rows to the broker under its own instrument's tape id (``Pipeline.for_broker``), so a contract
roll between two files does not leave the broker blind to the second file's prints.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

import msgspec
import numpy as np

from tapeflow.backtest.lockstep import Lockstep, fine_steps
from tapeflow.backtest.multi import InstrumentRow, group_days
from tapeflow.backtest.trades import Trade, attribute_trips
from tapeflow.core.events import K_TRADE
from tapeflow.core.instruments import Instrument
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.open import open_source
from tapeflow.flow.state import FlowSettings
from tapeflow.pipeline import Pipeline, SignalEngine
from tapeflow.signals.model import Signal
from tapeflow.trading.account import Account
from tapeflow.trading.journal_sink import JournalSink
from tapeflow.trading.orders import Fill, Order, OrderEvent
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.settings import TradingSettings

EngineFactory = Callable[[Instrument], SignalEngine]
"""Builds a fresh rule engine for the instrument of a run (one per run: engines keep state)."""

ProgressCallback = Callable[["Progress"], None]

DEFAULT_BATCH_ROWS = 65_536
"""Rows per pipeline step. Batch size no longer changes results: ``Pipeline.process`` hands each
signal to the broker at its own place in the tape, so fills are the same with 1-row or 65k-row
batches (``tests/test_pipeline.py`` checks it; ``tests/test_backtest_batch_size.py`` checks fills,
orders and trades on the real files for 1- to 65k-row source batches, P&L limits included). Large
batches are simply faster (about 35x over 32-row batches on simulated RTH flow)."""

DEFAULT_BATCH_MS = 0
"""Optional cap on the market time one batch may span (ms; 0: none). Kept for experiments; with
signal-ordered fills it does not change results."""


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a run is: reported after every batch."""

    file_index: int  # 0-based
    files: int
    source: str
    events: int  # all files so far
    trades: int  # prints so far


@dataclass(frozen=True, slots=True)
class FileSummary:
    """What one input file contributed."""

    source: str
    schema: str
    events: int
    trades: int
    first_ts: int | None
    last_ts: int | None
    malformed: int
    fill_model: str = "trades"  # what the paper broker could fill against: "mbo", "mbp" or "trades"


@dataclass(frozen=True, slots=True)
class DayRow:
    """One trading date of a multi-day run: what its own pipeline saw and did. Money in cents."""

    day: date
    files: int
    events: int
    prints: int
    signals: int
    trades: int
    net_cents: int
    commission_cents: int
    open_position: int


@dataclass
class SignalRecord:
    """A signal and what the auto-trader did with it (empty for alerts and highlights)."""

    signal: Signal
    decision: str = ""


@dataclass
class BacktestResult:
    """Everything a report needs from one run."""

    instrument: Instrument
    settings: TradingSettings
    files: list[FileSummary]
    signals: list[SignalRecord]
    fills: list[Fill]
    orders: dict[int, Order]
    trades: list[Trade]
    open_position: int  # contracts still open when the data ended (not counted as a trade)
    elapsed_s: float
    batch_rows: int = DEFAULT_BATCH_ROWS
    batch_ms: int = DEFAULT_BATCH_MS
    params: dict[str, object] = field(default_factory=dict)  # sweep overrides, for the report
    days: list[DayRow] = field(default_factory=list)  # a date-range run: one row per trading date
    open_positions: dict[str, int] = field(default_factory=dict)  # several instruments: root -> open qty

    def entry_delays_ns(self) -> list[int]:
        """Per acted-on entry signal: first fill time minus signal time (batching + latency), ns."""
        first: dict[int, int] = {}
        for f in self.fills:
            first.setdefault(f.order_id, f.ts_ns)
        out = []
        for rec in self.signals:
            if rec.decision.startswith("order "):
                oid = int(rec.decision.split()[1])
                if oid in first:
                    out.append(first[oid] - rec.signal.ts_ns)
        return out

    @property
    def events(self) -> int:
        return sum(f.events for f in self.files)

    @property
    def prints(self) -> int:
        return sum(f.trades for f in self.files)

    @property
    def span_ns(self) -> int:
        """Market time covered: the sum of each file's first-to-last event span."""
        return sum(f.last_ts - f.first_ts for f in self.files if f.first_ts is not None and f.last_ts is not None)


def open_sources(files: Sequence[str], *, symbol: str | None = None, tz: str | None = None) -> list[EventSource]:
    """Open every input. Files of several instruments need one file per instrument per day
    (they run in one account, see :mod:`tapeflow.backtest.multi`)."""
    if not files:
        raise TapeflowError("backtest: no input files")
    sources = [open_source(str(f), symbol=symbol, tz=tz) for f in files]
    group_days(sources)  # a file count that does not pair up fails here, naming the counts
    return sources


def open_day_sources(files: Sequence[str], *, symbol: str | None = None, tz: str | None = None) -> list[EventSource]:
    """The files of one trading date: one source per instrument (a date split over several files of
    one instrument is read as one tape, its book kept across them). One instrument: as
    :func:`open_sources` (each file its own source, as a one-symbol date range always ran)."""
    if not files:
        raise TapeflowError("backtest: no input files")
    sources = [open_source(str(f), symbol=symbol, tz=tz) for f in files]
    by_root: dict[str, list[int]] = {}
    for i, src in enumerate(sources):
        by_root.setdefault(src.info.instrument.root, []).append(i)
    if len(by_root) == 1:
        return sources
    from tapeflow.history.dates import DaysSource  # history imports this module

    return [DaysSource([str(files[i]) for i in parts], symbol=symbol) if len(parts) > 1 else sources[parts[0]]
            for parts in by_root.values()]


def cut_points(ts: np.ndarray, rows: int, quantum_ns: int) -> list[int]:
    """Start indices of the pipeline batches of one source batch, plus its end.

    A cut where the clock enters a new ``quantum_ns`` bucket (if > 0), and wherever a piece would
    exceed ``rows``. Buckets are aligned on the epoch, so cuts do not depend on source batching.
    """
    n = len(ts)
    starts = (np.flatnonzero(np.diff(ts // quantum_ns)) + 1).tolist() if quantum_ns > 0 and n else []
    cuts = [0]
    for s in [*starts, n]:
        while s - cuts[-1] > rows:
            cuts.append(cuts[-1] + rows)
        if s > cuts[-1]:
            cuts.append(s)
    return cuts


def run_backtest(
    sources: Sequence[EventSource],
    engine_factory: EngineFactory,
    settings: TradingSettings | None = None,
    *,
    flow_settings: FlowSettings | None = None,
    journal: JournalSink | None = None,
    progress: ProgressCallback | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    batch_ms: int = DEFAULT_BATCH_MS,
    lockstep: bool = True,
) -> BacktestResult:
    """Run the pipeline over ``sources`` in order; state (positions, sessions) carries across files.

    ``batch_rows`` / ``batch_ms``: the largest batch handed to ``Pipeline.process``, in rows and in
    market time (0 ms: no time cut); see ``DEFAULT_BATCH_ROWS`` and ``DEFAULT_BATCH_MS``.
    ``lockstep``: several instruments are planned ahead and played back in time order
    (:mod:`tapeflow.backtest.lockstep`); False steps the merged tape piece by piece, the reference
    it equals (tests), about 15x slower.
    """
    if batch_rows < 1 or batch_ms < 0:
        raise TapeflowError(f"backtest: batches need >= 1 row and >= 0 ms, got {batch_rows} rows, {batch_ms} ms")
    quantum = batch_ms * 1_000_000
    settings = settings or TradingSettings()
    roots, days = group_days(sources)
    insts = [src.info.instrument for src in days[0]]
    broker = PaperBroker(settings.paper, dict(enumerate(roots)))
    account = Account(settings, broker=broker, journal=journal, name="backtest")
    pipes = [Pipeline(inst, flow_settings or FlowSettings(), engine=engine_factory(inst), account=account)
             for inst in insts]
    fills = _collect_fills(account)
    signals: list[SignalRecord] = []

    def step(k: int, fired: list[Signal]) -> None:
        signals.extend(_records(fired, pipes[k]))

    def cuts(rows: np.ndarray) -> list[int]:
        return cut_points(rows["ts_event"], batch_rows, quantum)

    player = Lockstep(pipes, account, cuts, step) if lockstep and len(pipes) > 1 else None
    summaries: list[FileSummary] = []
    total = [0, 0]  # events, prints of the run so far
    started = time.perf_counter()
    for d, day in enumerate(days):
        for root in roots:
            broker.new_tape(root)  # yesterday's book is not today's
        counts = [[0, 0] for _ in day]
        counted = [_counting(src, counts[k], total, progress, d * len(roots) + k, len(sources))
                   for k, src in enumerate(day)]
        if player is not None:
            player.run_day(counted)
        else:
            fine_steps(pipes, counted, cuts, step)
        for k, pipe in enumerate(pipes):  # a file that ends inside an exchange event: its signals act now
            if fired := pipe.release_held():
                step(k, fired)
        for src, root, (n, p) in zip(day, roots, counts, strict=True):
            st = src.stats
            summaries.append(FileSummary(src.info.source, src.info.schema, n, p, st.first_ts, st.last_ts,
                                         st.malformed_total, broker.fill_model(root)))
    elapsed = time.perf_counter() - started
    trades = _trades(account, fills)
    held = {r: (account.ledger.positions[r].qty if r in account.ledger.positions else 0) for r in roots}
    if len(roots) == 1:  # one instrument: its signed position, no per-instrument rows
        return BacktestResult(insts[0], settings, summaries, signals, fills, dict(account.orders), trades,
                              held[roots[0]], elapsed, batch_rows, batch_ms)
    return BacktestResult(insts[0], settings, summaries, signals, fills, dict(account.orders), trades,
                          sum(abs(q) for q in held.values()), elapsed, batch_rows, batch_ms, open_positions=held)


def _counting(source: EventSource, mine: list[int], total: list[int], progress: ProgressCallback | None,
              index: int, files: int) -> Iterator[np.ndarray]:
    """``source``'s batches, counted (events, prints) into ``mine`` and ``total`` as they are read."""
    for rows in source:
        n, p = len(rows), int(np.count_nonzero(rows["kind"] == K_TRADE))
        mine[0] += n
        mine[1] += p
        total[0] += n
        total[1] += p
        if progress is not None:
            progress(Progress(index, files, source.info.source, total[0], total[1]))
        yield rows


def _collect_fills(account: Account) -> list[Fill]:
    fills: list[Fill] = []

    def on_event(ev: OrderEvent) -> None:
        if ev.fill is not None:
            fills.append(ev.fill)

    account.subscribe(on_event)
    return fills


def _trades(account: Account, fills: list[Fill]) -> list[Trade]:
    rules = {oid: o.request.tag for oid, o in account.orders.items()}
    trades = attribute_trips(fills, rules)
    assert [t.trip for t in trades] == account.ledger.round_trips, "replayed fills disagree with the account"
    return trades


def instrument_rows(result: BacktestResult) -> list[InstrumentRow]:
    """Per-instrument figures of a multi-instrument run (empty for one instrument); they sum to the
    account's totals because every trade is one instrument's."""
    out = []
    for root, qty in result.open_positions.items():
        mine = [t for t in result.trades if t.trip.instrument == root]
        costs = sum(t.trip.commission_cents for t in mine)
        sides = 2 * sum(t.trip.qty for t in mine)
        commission, fee = result.settings.paper.rates_for(root)
        out.append(InstrumentRow(root, len(mine), sum(1 for t in mine if t.net_cents > 0),
                                 sum(t.net_cents for t in mine), costs, qty, sides,
                                 costs - sides * fee, sides * fee, commission + fee))  # the split adds up exactly
    return out


def _records(fired: list[Signal], pipe: Pipeline) -> list[SignalRecord]:
    """Pair this batch's signals with the auto-trader's decisions (the last ones it made)."""
    out = [SignalRecord(s) for s in fired]
    if pipe.auto is None or not pipe.auto_trade:
        return out
    entries = [r for r in out if r.signal.is_entry]
    recent = list(pipe.decisions)[-len(entries):] if entries else []
    for rec, (sig, decision) in zip(entries, recent, strict=True):
        assert sig is rec.signal
        if decision.acted and decision.result is not None:
            rec.decision = f"order {decision.result.order_id}"
        else:
            rec.decision = f"skipped: {decision.reason}"
    return out


_ORDER_REF = re.compile(r"^order (\d+)")


class DayMerger:
    """Folds per-day results, given in date order, into one result, as they arrive.

    Each trading date ran its own pipeline (a fresh account, so order and fill ids restart at 1);
    ids are shifted past the previous days' so they stay unique, and decisions that name an order
    follow. Nothing but the per-day outputs is kept: the days' events never are.
    """

    def __init__(self) -> None:
        self._result: BacktestResult | None = None
        self._order_base = 0
        self._fill_base = 0

    def add(self, day: date, part: BacktestResult) -> None:
        ob, fb = self._order_base, self._fill_base
        if ob or fb:
            part.fills = [msgspec.structs.replace(f, id=f.id + fb, order_id=f.order_id + ob) for f in part.fills]
            part.orders = {oid + ob: msgspec.structs.replace(o, id=oid + ob) for oid, o in part.orders.items()}
            for rec in part.signals:
                rec.decision = _ORDER_REF.sub(lambda m: f"order {int(m[1]) + ob}", rec.decision)
        self._order_base = max([ob, *part.orders])
        self._fill_base = max([fb, *(f.id for f in part.fills)])
        row = DayRow(day, len(part.files), part.events, part.prints, len(part.signals), len(part.trades),
                     sum(t.net_cents for t in part.trades), sum(t.trip.commission_cents for t in part.trades),
                     part.open_position)
        r = self._result
        if r is None:
            part.days = [row]
            self._result = part
            return
        r.files += part.files
        r.signals += part.signals
        r.fills += part.fills
        r.orders.update(part.orders)
        r.trades += part.trades
        r.open_position = part.open_position  # what is open when the last day's data ends
        r.open_positions = part.open_positions  # several instruments: each one's, as the last day ends
        r.elapsed_s += part.elapsed_s
        r.days.append(row)

    def result(self) -> BacktestResult:
        if self._result is None:
            raise TapeflowError("backtest: no trading dates to run")
        return self._result


def merge_days(parts: Iterable[tuple[date, BacktestResult]]) -> BacktestResult:
    """One result from per-day results in date order (see :class:`DayMerger`)."""
    merger = DayMerger()
    for day, part in parts:
        merger.add(day, part)
    return merger.result()
