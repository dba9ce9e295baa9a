"""``tapeflow selftest`` (the frozen app's ``--selftest``): does this install actually work?

Why: a frozen bundle can build fine and still miss a module, a Qt plugin or a data file; this
runs every layer once, headless, in a few seconds, and says in one line what worked:

1. first run into a throwaway folder (the bundled default settings and rules are found and parse);
2. the Qt window, offscreen, for a few frames (skipped when Qt is not installed, unless
   ``--require-gui``);
3. the bundled simulator sample through the full :class:`~tapeflow.pipeline.Pipeline` with the
   default rules (when the rule engine is there), the paper broker, a journal and a kill switch;
   a scripted manual round trip checks that orders fill and the position ends flat, and the kill
   switch must refuse an order;
4. a plugin module in a plugins folder that imports common standard-library modules, numpy and
   the detector API (what a frozen app must have bundled for user plugins to work).

Exit 0 with ``selftest ok: events=... elapsed=...s``; exit 1 with ``selftest FAILED: <reason>``.
Nothing is written to the user's own folders.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tapeflow.appdirs import SAMPLE_SOURCE, AppPaths, ensure_first_run, load_user_settings
from tapeflow.core.events import Side
from tapeflow.feeds.open import open_source
from tapeflow.pipeline import Pipeline, SignalEngine
from tapeflow.store.journal import Journal
from tapeflow.trading.account import Account
from tapeflow.trading.kill_switch import KillSwitch
from tapeflow.trading.orders import OrderRequest
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.tape_ids import tape_roots

GUI_FRAMES = 12
FRAME_S = 0.016  # one frame at about 60 Hz
PROBE_ENTRY_AT = 0.6  # the manual round trip opens at this fraction of the sample's span ...
PROBE_EXIT_AT = 0.8  # ... and is flattened here (both inside the default 09:30-11:30 window)

PLUGIN_KIND = "selftest_probe"
PLUGIN_PROBE = '''"""Selftest plugin: imports what user plugins commonly need, defines one detector."""
import collections, csv, dataclasses, datetime, decimal, enum, fractions, functools, itertools
import json, logging, math, pathlib, re, sqlite3, statistics, typing, zoneinfo
import numpy as np

from tapeflow.signals.api import Detector

MEAN = statistics.fmean([1.0, 2.0, 3.0]) + float(np.arange(3).sum())


class SelftestProbe(Detector):
    kind = "selftest_probe"
    summary = "never fires; proves that plugins load in this install"
'''
PLUGIN_PROBE_MEAN = 5.0


class SelftestError(Exception):
    """A check that failed; the message is the one-line reason."""


@dataclass(frozen=True, slots=True)
class SelftestResult:
    """Counts from one selftest run (``gui``: window, qt, absent or off)."""

    events: int
    trades: int
    bars: int
    signals: int
    orders: int
    fills: int
    rules: str
    gui: str
    plugins: str
    elapsed_s: float

    def line(self) -> str:
        return (
            f"selftest ok: events={self.events} trades={self.trades} bars={self.bars} signals={self.signals} "
            f"orders={self.orders} fills={self.fills} rules={self.rules} gui={self.gui} plugins={self.plugins} "
            f"elapsed={self.elapsed_s:.2f}s"
        )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("selftest", help="check this install headless: window, sample replay, rules, paper broker")
    p.add_argument("--source", default=SAMPLE_SOURCE, help=f"what to replay (default {SAMPLE_SOURCE})")
    gui = p.add_mutually_exclusive_group()
    gui.add_argument("--require-gui", action="store_true", help="fail when Qt or the window cannot start")
    gui.add_argument("--no-gui", action="store_true", help="skip the window check")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    gui_mode = "off" if args.no_gui else "require" if args.require_gui else "auto"
    return main(args.source, gui_mode)


def main(source: str = SAMPLE_SOURCE, gui_mode: str = "auto") -> int:
    """Run every check; print one line; 0 when all passed."""
    try:
        result = run_selftest(source, gui_mode)
    except Exception as e:  # any failure, bug or missing module, is the answer here
        reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
        kind = "" if isinstance(e, SelftestError) else f"{type(e).__name__}: "
        print(f"selftest FAILED: {kind}{reason}", file=sys.stderr, flush=True)
        return 1
    print(result.line(), flush=True)
    return 0


def run_selftest(source: str = SAMPLE_SOURCE, gui_mode: str = "auto") -> SelftestResult:
    """The checks themselves; raises on the first failure."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tapeflow-selftest-") as tmp:
        paths = ensure_first_run(Path(tmp) / "home")
        for f in (paths.settings_file, paths.rules_file):
            if not f.is_file():
                raise SelftestError(f"first run did not write {f.name}: its default is not bundled")
        gui = check_gui(gui_mode, paths)
        plugins = check_plugins(paths)
        counts = replay(source, paths)
    return SelftestResult(**counts, gui=gui, plugins=plugins, elapsed_s=time.perf_counter() - started)


# --------------------------------------------------------------------------- replay


def replay(source: str, paths: AppPaths) -> dict[str, Any]:
    """The sample through flow, rules, auto-trader and paper broker, journaled; returns the counts."""
    settings = load_user_settings(paths)
    src = open_source(source)
    inst = src.info.instrument
    engine, rules = load_rule_engine(paths, inst)
    journal = Journal(paths.data_dir / "selftest-journal.sqlite", durable=False)
    try:
        broker = PaperBroker(settings.paper, tape_roots(src.info.instrument_ids, inst.root))
        account = Account(
            settings, broker=broker, journal=journal, kill_switch=KillSwitch(paths.kill_switch_file), name="selftest"
        )
        pipe = Pipeline(inst, engine=engine, account=account)
        probe = _probe_schedule(src.info.start_ns, src.info.end_ns)
        events = signals = 0
        for batch in src:
            events += len(batch)
            signals += len(pipe.process(batch))
            while probe and account.clock_ns >= probe[0][0]:
                _, action = probe.pop(0)
                action(account, inst.root)
        if events == 0 or src.stats.trades == 0:
            raise SelftestError(f"{source}: the replay produced no trades")
        bars = len(pipe.flow.bars())
        if bars == 0:
            raise SelftestError(f"{source}: no footprint bar was built from {src.stats.trades} trades")
        fills = len(journal.fills())
        if probe:
            raise SelftestError(f"{source}: the replay ended before the scripted round trip")
        if fills < 2:
            raise SelftestError(f"the paper broker filled {fills} orders; the scripted round trip needs 2")
        _check_kill_switch(account, inst.root)
        return {
            "events": events,
            "trades": src.stats.trades,
            "bars": bars,
            "signals": signals,
            "orders": len(account.orders),
            "fills": fills,
            "rules": rules,
        }
    finally:
        journal.close()


ProbeAction = Callable[[Account, str], None]


def _probe_schedule(start_ns: int | None, end_ns: int | None) -> list[tuple[int, ProbeAction]]:
    """A manual market buy and a flatten at fixed fractions of the sample's span (none if unknown)."""
    if start_ns is None or end_ns is None or end_ns <= start_ns:
        return []
    span = end_ns - start_ns
    return [
        (start_ns + int(span * PROBE_ENTRY_AT), _probe_entry),
        (start_ns + int(span * PROBE_EXIT_AT), _probe_exit),
    ]


def _probe_entry(account: Account, root: str) -> None:
    # A flat book is the only state in which one contract may not be refused by the default limits.
    for pos in account.ledger.positions.values():
        if pos.qty:
            account.flatten(reason="selftest: flat before the probe")
    res = account.submit(OrderRequest(instrument=root, side=Side.BUY, qty=1, tag="selftest"))
    if not res.ok:
        raise SelftestError(f"the paper account refused the selftest order: {res.rule}: {res.reason}")


def _probe_exit(account: Account, root: str) -> None:
    account.flatten(root, reason="selftest: close the probe")


def _check_kill_switch(account: Account, root: str) -> None:
    account.kill("selftest", "selftest")
    res = account.submit(OrderRequest(instrument=root, side=Side.BUY, qty=1, tag="selftest"))
    if res.ok:
        raise SelftestError("the kill switch is latched but an order was accepted")
    account.rearm("selftest")


def load_rule_engine(paths: AppPaths, instrument: Any) -> tuple[SignalEngine | None, str]:
    """The rule engine over the default rules, or ``(None, "none")`` while the engine is not shipped.

    Only the engine module itself may be missing: any other import error (a module left out of a
    frozen bundle) is a failure.
    """
    try:
        engine_mod = importlib.import_module("tapeflow.signals.engine")
    except ModuleNotFoundError as e:
        if e.name in ("tapeflow.signals.engine",):
            return None, "none"
        raise
    if not paths.rules_file.is_file():
        raise SelftestError(f"the rule engine is installed but no default rules were written ({paths.rules_file})")
    return _build_engine(engine_mod, paths, instrument)


def _build_engine(engine_mod: Any, paths: AppPaths, instrument: Any) -> tuple[SignalEngine, str]:
    factory = getattr(engine_mod, "engine_from_file", None)
    if factory is not None:
        engine = factory(paths.rules_file, instrument=instrument, plugins_dir=paths.plugins_dir)
    else:
        engine = engine_mod.RuleEngine.from_file(paths.rules_file, instrument=instrument)
    n = len(getattr(engine, "rules", ()))
    return engine, str(n)


# --------------------------------------------------------------------------- plugins


def check_plugins(paths: AppPaths) -> str:
    """Load a probe plugin from the plugins folder the way the rule engine loads a user's plugin."""
    probe = paths.plugins_dir / "selftest_probe.py"
    probe.write_text(PLUGIN_PROBE, encoding="utf-8")
    try:
        from tapeflow.signals.plugins import load_registry
    except ModuleNotFoundError as e:
        if e.name not in ("tapeflow.signals.plugins",):
            raise
        module = _import_file("tapeflow_plugins.selftest_probe", probe)
    else:
        registry = load_registry([paths.plugins_dir], use_entry_points=False)
        if registry.problems:
            problem = registry.problems[0]
            last = problem.traceback.strip().splitlines()[-1:] or [problem.message]
            raise SelftestError(f"plugin {problem.source}: {last[0]}")
        if PLUGIN_KIND not in registry.plugin_kinds:
            raise SelftestError(f"the probe plugin in {paths.plugins_dir} was not registered")
        module = sys.modules[registry.detectors[PLUGIN_KIND].__module__]
    if module.MEAN != PLUGIN_PROBE_MEAN:
        raise SelftestError(f"the probe plugin computed {module.MEAN}, expected {PLUGIN_PROBE_MEAN}")
    return "ok"


def _import_file(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SelftestError(f"cannot load a plugin from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- GUI


def check_gui(mode: str, paths: AppPaths) -> str:
    """Open the main window offscreen and draw a few frames of the sample.

    Returns ``window`` (the terminal's main window), ``qt`` (only a bare pyqtgraph plot: the UI
    package is not installed), ``absent`` (no Qt, allowed unless ``require``) or ``off``.
    """
    if mode == "off":
        return "off"
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError as e:
        if mode == "require":
            raise SelftestError(f"Qt is not available: {e}") from None
        return "absent"
    if QApplication.instance() is None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # headless, whatever the desktop
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "tapeflow"])
    window, frame, kind = _make_window(paths)
    try:
        window.resize(1280, 800)
        window.show()
        for _ in range(GUI_FRAMES):
            frame()
            app.processEvents()
            time.sleep(FRAME_S)
        if not window.isVisible():
            raise SelftestError("the main window did not stay open")
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()
    return kind


def _make_window(paths: AppPaths) -> tuple[Any, Callable[[], None], str]:
    """The terminal's main window over the sample (a batch per frame), else a bare pyqtgraph plot."""
    try:
        from tapeflow.ui.main_window import MainWindow
        from tapeflow.ui.session import build_session
        from tapeflow.ui.settings_store import UiSettingsStore
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("tapeflow.ui"):
            raise
    else:
        session = build_session(SAMPLE_SOURCE, paths, speed=None)
        window = MainWindow(session, UiSettingsStore(paths.config_dir / "ui.ini"))
        batches = iter(session.source)

        def frame() -> None:
            batch = next(batches, None)
            if batch is not None:
                session.pipeline.process(batch)
            window.refresh()

        return window, frame, "window"
    import pyqtgraph as pg

    plot = pg.PlotWidget(title="tapeflow selftest")
    plot.plot([1, 3, 2, 4])
    return plot, lambda: None, "qt"
