"""One terminal session: source, replay, pipeline (flow, rules, paper account) and feed runner.

Qt-free on purpose: the command line, the tests and the benchmark build the same session the
window shows. Files come from :mod:`tapeflow.appdirs` (the user's trading settings, rules and
plugins; the kill switch latch in the data folder, so a pulled switch stays pulled after a restart).
The journal and the latch are locked for the session's life (:mod:`tapeflow.account_files`): a
second terminal or a ``tapeflow webhook`` on the same files is refused, and so is a file that
cannot be written, before any trading starts.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from tapeflow.account_files import AccountFiles, open_account_files
from tapeflow.appdirs import SAMPLE_SOURCE, AppPaths
from tapeflow.core.instruments import Instrument
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.open import open_source
from tapeflow.feeds.replay import Replay
from tapeflow.flow.state import FlowSettings, FlowState
from tapeflow.pipeline import Pipeline
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
class TerminalSession:
    spec: str
    instrument: Instrument
    source: EventSource
    pipeline: Pipeline
    account: Account
    replay: Replay
    runner: FeedRunner
    engine: Any | None
    engine_note: str
    files: AccountFiles
    restore_notes: tuple[str, ...] = ()  # what restarting from the journal found (live feeds only)

    def bands(self) -> tuple[Band, ...]:
        return engine_bands(self.engine)

    def reset_flow(self) -> None:
        """Start the flow state over (a backward jump replays from the first event)."""
        p = self.pipeline
        p.flow = FlowState(self.instrument, p.flow_settings)
        p.signals.clear()
        p.decisions.clear()

    def close(self) -> None:
        """Stop the feed and release the journal and latch (sessions sharing them share this)."""
        self.runner.cancel()
        self.files.close()


def is_live_spec(spec: str) -> bool:
    """A live feed (a websocket, Rithmic), as opposed to a file or the simulator."""
    return spec.lower().startswith(("ws://", "wss://", "rithmic:"))


def build_session(
    spec: str,
    paths: AppPaths,
    *,
    speed: float | None = 1.0,
    symbol: str | None = None,
    tz: str | None = None,
    bar: str = "1m",
    use_engine: bool = True,
    files: AccountFiles | None = None,
) -> TerminalSession:
    """Open ``spec`` (a file or ``sim://...``) as a paced replay into a paper-trading pipeline.

    ``files``: the journal and latch of the session this one replaces (the window opening another
    file keeps its account); else they are locked and checked here, raising
    :class:`~tapeflow.errors.TapeflowError` naming the file when another process holds one or
    either cannot be written."""
    source = open_source(spec, symbol=symbol, tz=tz)
    inst = source.info.instrument
    settings = load_settings(paths.settings_file) if paths.settings_file.is_file() else TradingSettings()
    broker = PaperBroker(settings.paper, instrument_ids=tape_roots(source.info.instrument_ids, inst.root))
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
        if is_live_spec(spec):
            report = account.restore(journal)
            restore_notes = tuple(report.warnings)
        engine, note, rules_file = None, "", None
        if use_engine:
            rules_file = default_rules_file(paths.rules_file)
            engine, note = make_engine(inst, rules_file, paths.plugins_dir)
        running = engine is not None
        account.record_settings("start", source=spec, rules_file=rules_file if running else None,
                                rules=[r.name for r in engine.rules] if running else ())
        # a live feed vetoes automatic entries while it is stale or behind (LiveFeed.entry_hold); files have none
        pipeline = Pipeline(inst, FlowSettings(bar=bar), engine=engine, account=account,
                            entry_hold=getattr(source, "entry_hold", None))
        replay = Replay(source, speed=speed, max_batch=REPLAY_MAX_BATCH)
        runner = FeedRunner(pipeline, replay)
        session = TerminalSession(spec, inst, source, pipeline, account, replay, runner, engine, note, files,
                                  restore_notes)
        undo.pop_all()
    runner.reset = session.reset_flow
    return session
