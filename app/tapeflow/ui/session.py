"""One terminal session: sources, replay, pipelines (flow, rules), the paper account and feed runner.

One source, or several of different instruments (ES and NQ side by side): each instrument has its
own pipeline (flow state, rule engine, auto-trader) and all trade one account and one paper
broker, as in a multi-instrument backtest; their sources are merged in time order onto one replay,
so speed, pause and jumps move them together.

Qt-free on purpose: the command line, the tests and the benchmark build the same session the
window shows. Files come from :mod:`tapeflow.appdirs` (the user's trading settings, rules and
plugins; the kill switch latch in the data folder, so a pulled switch stays pulled after a restart).
The journal and the latch are locked for the session's life (:mod:`tapeflow.account_files`): a
second terminal or a ``tapeflow webhook`` on the same files is refused, and so is a file that
cannot be written, before any trading starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tapeflow.account_files import AccountFiles, open_account_files
from tapeflow.appdirs import SAMPLE_SOURCE, AppPaths
from tapeflow.core.instruments import Instrument
from tapeflow.core.sessions import ns_to_et
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.open import open_source
from tapeflow.feeds.replay import Replay
from tapeflow.feeds.tagged_merge import TaggedMerge
from tapeflow.flow.state import FlowSettings, FlowState
from tapeflow.pipeline import Pipeline, PipelineSnapshot
from tapeflow.pipeline_group import PipelineGroup
from tapeflow.trading.account import Account
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.settings import TradingSettings, load_settings
from tapeflow.trading.tape_ids import tape_roots
from tapeflow.ui.engine_hook import default_rules_file, engine_bands, make_engine
from tapeflow.ui.feed_runner import FeedRunner
from tapeflow.ui.highlight_item import Band

DEFAULT_SOURCE = SAMPLE_SOURCE
REPLAY_MAX_BATCH = 8192
"""Rows per batch at max speed: bounds one pipeline step so the window never stalls on it."""


@dataclass
class InstrumentFeed:
    """One instrument of a session: its source, its own pipeline (flow state, rules, auto-trader)."""

    spec: str
    instrument: Instrument
    source: EventSource
    pipeline: Pipeline
    engine: Any | None
    engine_note: str

    def bands(self) -> tuple[Band, ...]:
        return engine_bands(self.engine)

    def chart_snapshot(self) -> PipelineSnapshot:
        """What a chart of this instrument draws (flow and signals), without the account's figures:
        the window takes the account once a frame, with the selected instrument's snapshot."""
        p = self.pipeline
        return PipelineSnapshot(flow=p.flow.snapshot(), account=None, signals=tuple(p.signals),
                                decisions=tuple(p.decisions), batches=p.batches)

    def reset_flow(self) -> None:
        """Start the flow state and the rule engine over (a backward jump replays from the first event)."""
        p = self.pipeline
        p.flow = FlowState(self.instrument, p.flow_settings)
        fresh = getattr(self.engine, "fresh", None)  # a plugin engine without it keeps its state
        if callable(fresh):
            self.engine = p.engine = fresh()
        p.signals.clear()
        p.decisions.clear()


@dataclass
class TerminalSession:
    """What every instrument of the window shares (one account, one replay clock, one feed runner,
    the locked journal and latch) and each instrument's own part (``feeds``, in the order given).

    ``spec``, ``instrument``, ``source``, ``pipeline``, ``engine`` and ``engine_note`` name the
    first instrument's: a session of one source is used exactly as before several were possible."""

    feeds: list[InstrumentFeed]
    account: Account
    replay: Replay
    runner: FeedRunner
    files: AccountFiles
    restore_notes: tuple[str, ...] = ()  # what restarting from the journal found (live feeds only)
    tz: str | None = None  # the zone naive CSV times were read in (reopening the workspace reads them so again)
    notes: tuple[str, ...] = ()  # what the user should know about the sources (the window's status bar)

    @property
    def primary(self) -> InstrumentFeed:
        return self.feeds[0]

    @property
    def spec(self) -> str:
        return self.primary.spec

    @property
    def specs(self) -> list[str]:
        return [f.spec for f in self.feeds]

    @property
    def instrument(self) -> Instrument:
        return self.primary.instrument

    @property
    def source(self) -> EventSource:
        return self.primary.source

    @property
    def pipeline(self) -> Pipeline:
        return self.primary.pipeline

    @property
    def engine(self) -> Any | None:
        return self.primary.engine

    @property
    def engine_note(self) -> str:
        return self.primary.engine_note

    def bands(self) -> tuple[Band, ...]:
        return self.primary.bands()

    def reset_flow(self) -> None:
        """Start every instrument's flow state over (a backward jump replays the merged tape from its start)."""
        for f in self.feeds:
            f.reset_flow()

    def feed_of(self, root: str) -> InstrumentFeed | None:
        return next((f for f in self.feeds if f.instrument.root == root), None)

    def close(self) -> None:
        """Stop the feed and release the journal and latch (sessions sharing them share this)."""
        self.runner.cancel()
        self.files.close()


def is_live_spec(spec: str) -> bool:
    """A live feed (a websocket, Rithmic), as opposed to a file or the simulator."""
    return spec.lower().startswith(("ws://", "wss://", "rithmic:"))


def build_session(
    spec: str | Sequence[str],
    paths: AppPaths,
    *,
    speed: float | None = 1.0,
    symbol: str | Sequence[str | None] | None = None,
    tz: str | None = None,
    bar: str = "1m",
    use_engine: bool = True,
    files: AccountFiles | None = None,
) -> TerminalSession:
    """Open ``spec`` (a file or ``sim://...``; or several, one per instrument) as a paced replay into
    a paper-trading pipeline per instrument, all on one account.

    ``files``: the journal and latch of the session this one replaces (the window opening another
    file keeps its account); else they are locked and checked here, raising
    :class:`~tapeflow.errors.TapeflowError` naming the file when another process holds one or
    either cannot be written.

    Several sources: each is opened without ``symbol`` first and with it only if it cannot tell its
    instrument alone (a CSV file), so ``gui es.dbn.zst nq.csv --symbol NQ`` works (``symbol`` may
    also be one per source, as a reopened workspace gives them). They must be of different
    instruments, files or the simulator (a live feed cannot wait for a replay clock), and are
    merged in time order onto one replay (:mod:`tapeflow.feeds.tagged_merge`)."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    if len(specs) == 1 and (symbol is None or isinstance(symbol, str)):
        sources = [open_source(specs[0], symbol=symbol, tz=tz)]
    else:
        sources = open_sources(specs, symbol=symbol, tz=tz)
    session = _build(specs, sources, paths, speed=speed, bar=bar, use_engine=use_engine, files=files)
    session.tz = tz
    return session


def open_sources(
    specs: Sequence[str], *, symbol: str | Sequence[str | None] | None = None, tz: str | None = None
) -> list[EventSource]:
    """Every source of a session of several instruments (see :func:`build_session`); a user error
    names the source."""
    if not specs:
        raise TapeflowError("no source to open")
    live = [s for s in specs if is_live_spec(s)]
    if live and len(specs) > 1:
        raise TapeflowError(f"{live[0]}: a live feed opens alone (several sources: files or sim://)")
    hints = [symbol] * len(specs) if symbol is None or isinstance(symbol, str) else list(symbol)
    sources: list[EventSource] = []
    seen: dict[str, str] = {}
    for spec, hint in zip(specs, hints, strict=True):
        try:
            src = open_source(spec, tz=tz)
        except TapeflowError:
            if hint is None:
                raise
            src = open_source(spec, symbol=hint, tz=tz)
        root = src.info.instrument.root
        if root in seen:
            raise TapeflowError(f"{spec}: a second {root} source (after {seen[root]}): open one source per instrument")
        seen[root] = spec
        sources.append(src)
    return sources


def _build(
    specs: list[str],
    sources: list[EventSource],
    paths: AppPaths,
    *,
    speed: float | None,
    bar: str,
    use_engine: bool,
    files: AccountFiles | None,
) -> TerminalSession:
    insts = [src.info.instrument for src in sources]
    settings = load_settings(paths.settings_file) if paths.settings_file.is_file() else TradingSettings()
    if len(sources) == 1:
        broker = PaperBroker(settings.paper, instrument_ids=tape_roots(sources[0].info.instrument_ids, insts[0].root))
    else:  # as a multi-instrument backtest: tape k is instrument k (each pipeline tags its rows)
        broker = PaperBroker(settings.paper, dict(enumerate(i.root for i in insts)))
    # Paper mode journals every signal, order and fill (the forward test's record). On a live feed the
    # account is rebuilt from that journal at start, so a crash loses no position or P&L; a replay
    # is its own paper session on historical time and starts flat.
    with contextlib.ExitStack() as undo:  # files locked here are released if the session fails to build
        if files is None:
            files = open_account_files(paths.journal_file, paths.kill_switch_file)
            undo.callback(files.close)
        journal = files.journal
        account = Account(settings, broker=broker, kill_switch=files.kill_switch, journal=journal)
        restore_notes: tuple[str, ...] = ()
        if is_live_spec(specs[0]):
            report = account.restore(journal)
            restore_notes = tuple(report.warnings)
        rules_file = default_rules_file(paths.rules_file) if use_engine else None
        feeds: list[InstrumentFeed] = []
        for spec, source, inst in zip(specs, sources, insts, strict=True):
            engine, note = make_engine(inst, rules_file, paths.plugins_dir) if use_engine else (None, "")
            # a live feed vetoes automatic entries while it is stale or behind (LiveFeed.entry_hold); files have none
            pipeline = Pipeline(inst, FlowSettings(bar=bar), engine=engine, account=account,
                                entry_hold=getattr(source, "entry_hold", None))
            feeds.append(InstrumentFeed(spec, inst, source, pipeline, engine, note))
        engines = [f.engine for f in feeds if f.engine is not None]
        account.record_settings("start", source=" ".join(specs), rules_file=rules_file if engines else None,
                                rules=[r.name for r in engines[0].rules] if engines else ())
        if len(feeds) == 1:
            replay = Replay(sources[0], speed=speed, max_batch=REPLAY_MAX_BATCH)
            runner = FeedRunner(feeds[0].pipeline, replay)
        else:  # one replay clock for all: the sources merged into one tape in time order
            replay = Replay(TaggedMerge(sources), speed=speed, max_batch=REPLAY_MAX_BATCH)
            runner = FeedRunner(PipelineGroup([f.pipeline for f in feeds]), replay)
        session = TerminalSession(feeds, account, replay, runner, files, restore_notes,
                                  notes=time_gap_notes(sources) if len(sources) > 1 else ())
        undo.pop_all()
    runner.reset = session.reset_flow
    return session


def reopen_workspace(
    saved: Sequence[Mapping[str, Any]],
    paths: AppPaths,
    *,
    speed: float | None = 1.0,
    bar: str = "1m",
    files: AccountFiles | None = None,
) -> tuple[TerminalSession, list[str]]:
    """The session of the last window of several instruments (its saved sources: ``spec``, the
    ``symbol`` it was read as, the ``tz`` of naive CSV times), and notes on what could not be
    reopened: a source that is gone is reported, not fatal; with none left, the sample opens."""
    specs: list[str] = []
    hints: list[str | None] = []
    notes: list[str] = []
    tz = next((str(e["tz"]) for e in saved if e.get("tz")), None)
    for entry in saved:
        spec = str(entry["spec"])
        hint = str(entry["symbol"]) if entry.get("symbol") else None
        try:
            open_sources([spec], symbol=hint, tz=tz)
        except TapeflowError as e:
            notes.append(f"not reopened: {e}")
            continue
        specs.append(spec)
        hints.append(hint)
    if not specs:
        notes.append("none of the last window's sources opens: the sample session instead")
        return build_session(DEFAULT_SOURCE, paths, speed=speed, bar=bar, files=files), notes
    return build_session(specs, paths, speed=speed, symbol=hints, tz=tz, bar=bar, files=files), notes


def time_gap_notes(sources: Sequence[EventSource]) -> tuple[str, ...]:
    """A note for each source whose known time range does not overlap the first's: on one replay
    clock it plays after the other ends, and at market pace only once the clock has crossed the gap
    (files of different days; at max speed it follows at once)."""
    first = sources[0].info
    if first.start_ns is None or first.end_ns is None:
        return ()
    out = []
    for src in sources[1:]:
        info = src.info
        if info.start_ns is None or info.end_ns is None:
            continue
        if info.start_ns > first.end_ns or info.end_ns < first.start_ns:
            out.append(f"{info.instrument.root} ({ns_to_et(info.start_ns):%Y-%m-%d}) and {first.instrument.root} "
                       f"({ns_to_et(first.start_ns):%Y-%m-%d}) do not overlap in time: on one replay clock one plays "
                       "after the other (at once at max speed, after the gap at market pace)")
    return tuple(out)
