"""Several instruments in one terminal: one account and one replay clock, a chart per instrument with
a linked crosshair, the DOM, tape, delta and signal log following the selected instrument, the kill
switch on all, and the instruments and layout reopened at the next start."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets
from test_ui_support import shot

from tapeflow.appdirs import app_paths
from tapeflow.core.events import EVENT_DTYPE, Side
from tapeflow.errors import TapeflowError
from tapeflow.feeds.open import open_source
from tapeflow.feeds.tagged_merge import TaggedMerge
from tapeflow.flow.state import FlowSettings
from tapeflow.pipeline import Pipeline
from tapeflow.pipeline_group import PipelineGroup
from tapeflow.trading.orders import OrderRequest, Source
from tapeflow.ui.ladder_model import Col
from tapeflow.ui.main_window import MainWindow, workspace_sources_saved
from tapeflow.ui.session import TerminalSession, build_session, reopen_workspace
from tapeflow.ui.settings_store import UiSettingsStore

ES_SIM = "sim://open?trades=6000&seed=11&minutes=30"
NQ_SIM = "sim://open?trades=6000&seed=12&minutes=30&symbol=NQ"


def two(tmp_path, specs=(ES_SIM, NQ_SIM), *, engine: bool = False, **kw) -> TerminalSession:
    return build_session(list(specs), app_paths(tmp_path), speed=None, use_engine=engine, **kw)


def play(session: TerminalSession, rows: int | None = None) -> int:
    """Step the merged replay through the pipelines (no pacing, no event loop): ``rows`` rows, or all."""
    done = 0
    while rows is None or done < rows:
        chunk = session.replay.step_events(8192 if rows is None else min(8192, rows - done))
        if not len(chunk):
            break
        session.runner.steps.process(chunk)
        done += len(chunk)
    return done


def alone(spec: str) -> np.ndarray:
    return np.concatenate(list(open_source(spec)))


# ---------------------------------------------------------------- the session (no Qt)


def test_merged_tape_is_in_time_order_with_ties_to_the_source_listed_first():
    def rows(ts: list[int], price: int) -> np.ndarray:
        a = np.zeros(len(ts), EVENT_DTYPE)
        a["ts_event"], a["price"], a["instrument_id"] = ts, price, 77
        return a

    es = [rows([10, 20], 1), rows([30], 2)]  # two batches of the first source
    nq = [rows([5, 20, 25], 9)]

    class Src(list):
        def __init__(self, batches, root):
            super().__init__(batches)
            self.info = open_source(f"sim://?symbol={root}").info

    merged = np.concatenate(list(TaggedMerge([Src(es, "ES"), Src(nq, "NQ")], batch_rows=2)))
    assert merged["ts_event"].tolist() == [5, 10, 20, 20, 25, 30]
    assert merged["instrument_id"].tolist() == [1, 0, 0, 1, 1, 0]  # the tie at 20: ES (listed first) first
    assert merged["price"].tolist() == [9, 1, 1, 9, 9, 2]


def test_a_pipeline_group_hands_each_run_of_a_source_to_its_pipeline_in_tape_order():
    calls: list[tuple[str, list[int]]] = []

    class Recorder:
        def __init__(self, name: str) -> None:
            self.name = name

        def process(self, rows: np.ndarray) -> list:
            calls.append((self.name, rows["price"].tolist()))
            return [f"{self.name}{p}" for p in rows["price"].tolist() if p == 3]

    batch = np.zeros(6, EVENT_DTYPE)
    batch["instrument_id"] = [0, 0, 1, 1, 0, 1]  # the source of each row (TaggedMerge's tag)
    batch["price"] = [1, 2, 3, 4, 5, 6]
    fired = PipelineGroup([Recorder("ES"), Recorder("NQ")]).process(batch)
    assert calls == [("ES", [1, 2]), ("NQ", [3, 4]), ("ES", [5]), ("NQ", [6])]
    assert fired == ["NQ3"]
    calls.clear()
    PipelineGroup([Recorder("ES")]).process(batch)  # one source: its rows as they are, ids unread
    assert calls == [("ES", [1, 2, 3, 4, 5, 6])]


def test_two_sources_have_their_own_pipeline_on_one_account_and_one_replay(tmp_path):
    s = two(tmp_path)
    es, nq = s.feeds
    assert (es.instrument.root, nq.instrument.root) == ("ES", "NQ")
    assert es.pipeline.account is nq.pipeline.account is s.account
    assert es.pipeline is not nq.pipeline and es.pipeline.flow is not nq.pipeline.flow
    n = play(s)
    a, b = alone(ES_SIM), alone(NQ_SIM)
    assert n == len(a) + len(b)
    # each pipeline saw exactly its own source's rows: its bars are the bars of that source alone
    for feed, rows in ((es, a), (nq, b)):
        by_itself = Pipeline(feed.instrument, FlowSettings(bar="1m"))
        by_itself.process(rows)
        assert feed.pipeline.flow.events_seen == len(rows)
        mine, theirs = feed.pipeline.flow.bars(), by_itself.flow.bars()
        for field in ("start_ns", "open", "high", "low", "close", "volume", "delta"):
            assert np.array_equal(getattr(mine, field), getattr(theirs, field)), (feed.instrument.root, field)
    assert s.runner.replay.finished and s.runner.last_ts() == max(int(a["ts_event"][-1]), int(b["ts_event"][-1]))
    s.close()


def test_one_replay_clock_a_jump_back_rebuilds_both_instruments_as_if_played_from_the_start(tmp_path):
    s = two(tmp_path)
    a, b = alone(ES_SIM), alone(NQ_SIM)
    minute = 60_000_000_000
    target = int(min(a["ts_event"][0], b["ts_event"][0])) + 7 * minute + 123

    async def go() -> None:
        await s.runner.jump_to(target + 3 * minute)  # forward: both instruments to the same time
        assert all(target + 2 * minute < f.pipeline.flow.last_ts < target + 3 * minute for f in s.feeds)
        await s.runner.jump_to(target)  # and back

    asyncio.run(go())
    for feed, rows in zip(s.feeds, (a, b), strict=True):
        fresh = Pipeline(feed.instrument)
        fresh.process(rows[rows["ts_event"] < target])
        assert feed.pipeline.flow.bars().same_as(fresh.flow.bars()), feed.instrument.root
    before = [int(np.searchsorted(rows["ts_event"], target)) for rows in (a, b)]
    assert s.replay.position == sum(before)  # the merged tape stands at the target for both
    s.close()


def test_a_second_source_of_one_instrument_and_a_live_feed_among_several_are_refused(tmp_path):
    with pytest.raises(TapeflowError, match="a second ES source"):
        two(tmp_path, (ES_SIM, "sim://open?seed=3"))
    with pytest.raises(TapeflowError, match="a live feed opens alone"):
        two(tmp_path, (ES_SIM, "ws://127.0.0.1:9"))


def test_symbol_names_only_the_source_that_cannot_tell_its_instrument(tmp_path, mbp1_file, csv_file):
    s = two(tmp_path, (str(mbp1_file), str(csv_file)), symbol="NQ", tz="Europe/Madrid")
    assert [f.instrument.root for f in s.feeds] == ["ES", "NQ"]  # the DBN file keeps its own ES
    s.close()


def test_sources_of_different_days_are_told_they_play_one_after_the_other(tmp_path, mbp1_file):
    s = two(tmp_path, (str(mbp1_file), "sim://open?symbol=NQ&minutes=5"))  # 2024-07-01 evening, 2024-07-02 open
    (note,) = s.notes
    assert note.startswith("NQ (2024-07-02) and ES (2024-07-01) do not overlap in time")
    s.close()
    s = two(tmp_path)  # the same session of the simulator: nothing to say
    assert s.notes == ()
    s.close()


# ---------------------------------------------------------------- the window


@pytest.fixture
def window(qtbot, tmp_path):
    s = two(tmp_path)
    w = MainWindow(s, UiSettingsStore(tmp_path / "config" / "ui.ini"), user="tester", confirm=lambda *_: True)
    qtbot.addWidget(w)
    w.resize(1600, 960)
    w.show()
    return w


def test_two_instruments_open_side_by_side_one_chart_each(window):
    play(window.session)
    window.refresh()
    es_fp, nq_fp = window.footprints
    assert window.docks["footprint"].widget() is es_fp and window.docks["footprint_1"].widget() is nq_fp
    assert window.docks["footprint"].windowTitle() == "Footprint ES  ◀ selected"
    assert window.docks["footprint_1"].windowTitle() == "Footprint NQ"
    for fp, feed in zip(window.footprints, window.session.feeds, strict=True):
        assert fp.isVisible() and fp.instrument is feed.instrument
        assert np.array_equal(fp.item.bars.close, feed.pipeline.flow.bars().close)
    # the webhook receiver of this window takes alerts for both, each for its feed's month (2024-07-02: U4)
    assert window.webhook.instruments == {"ESU4", "NQU4"}
    # side by side: same top edge, NQ to the right of ES
    for _ in range(2):  # as opened, and after View > Reset layout
        g_es, g_nq = (window.docks[n].geometry() for n in ("footprint", "footprint_1"))
        assert g_es.top() == g_nq.top() and g_es.right() < g_nq.left()
        assert window.docks["delta"].geometry().top() > g_es.bottom()  # the delta pane below the charts
        window.reset_layout()
        QtWidgets.QApplication.processEvents()


def test_selecting_nq_moves_the_dom_tape_delta_and_signal_log_to_nq(window, qtbot):
    s = window.session
    nq = s.feeds[1]
    play(s)
    window.refresh()
    assert window.dom.instrument.root == "ES"
    qtbot.mouseClick(window.footprints[1].graphics.viewport(), QtCore.Qt.MouseButton.LeftButton)
    assert window.selected == 1 and window.instrument_box.currentText() == "NQ"
    assert window.dom.instrument.root == "NQ" and window.docks["dom"].windowTitle() == "DOM — NQ"
    snap = window.last_snapshot
    assert snap.flow.events_seen == nq.pipeline.flow.events_seen
    tape = nq.pipeline.flow.tape()
    assert window.tape.model.rows["price"][0] == tape["price"][-1]  # newest first
    assert window.delta.item.c["close"].tolist() == nq.pipeline.flow.bars().cum_delta.tolist()
    last = int(tape["price"][-1])
    assert window.dom.model.row_of(last) is not None  # the ladder is NQ's prices
    window.instrument_box.setCurrentIndex(0)  # and back with the selector
    assert window.selected == 0 and window.dom.instrument.root == "ES"
    assert window.delta.item.c["close"].tolist() == s.feeds[0].pipeline.flow.bars().cum_delta.tolist()
    window.activateWindow()
    qtbot.keyClick(window.dom.table, QtCore.Qt.Key.Key_2, QtCore.Qt.KeyboardModifier.AltModifier)  # the keyboard
    assert window.selected == 1 and window.tape.model.instrument.root == "NQ"


def test_a_dom_click_on_nq_makes_an_nq_order(window):
    s = window.session
    play(s, 40_000)
    window.select(1)
    window.dom.one_click.setChecked(True)
    bid = int(window.last_snapshot.flow.depth.bid_price[0]) - 3  # a resting NQ price below the market
    res = window.dom.click_cell(window.dom.model.index(window.dom.model.row_of(bid), int(Col.BID)))
    assert res is not None and res.ok, res
    (order,) = s.account.open_orders()
    assert order.instrument == "NQ" and order.side == Side.BUY and order.limit_price == bid


def test_the_kill_switch_flattens_both_instruments(window, tmp_path):
    s = window.session
    play(s, 30_000)
    for root in ("ES", "NQ"):
        assert s.account.submit(OrderRequest(instrument=root, side=Side.BUY, qty=1, source=Source.MANUAL)).ok
    play(s, 5_000)
    held = {r: p.qty for r, p in s.account.ledger.positions.items()}
    assert held == {"ES": 1, "NQ": 1}
    window.refresh()
    QtWidgets.QApplication.processEvents()
    table = window.risk.positions  # the risk panel: a row per instrument, then the account's totals
    assert [(table.item(i, 0).text(), table.item(i, 1).text()) for i in range(table.rowCount())] == \
        [("ES", "+1"), ("NQ", "+1")]
    assert sum(r.exposure_tenths for r in window.last_snapshot.account.instruments) == 20  # 1 ES + 1 NQ
    assert "<td>2 ES-equivalent</td>" in window.risk.figures.text()  # the account total
    shot(window, "two_instruments_long_both", tmp_path)
    window.risk.kill("test")
    play(s, 5_000)
    assert s.account.kill_switch.latched
    assert {r: p.qty for r, p in s.account.ledger.positions.items()} == {"ES": 0, "NQ": 0}
    window.refresh()
    rows = {r.instrument: r.qty for r in window.last_snapshot.account.instruments}
    assert rows == {"ES": 0, "NQ": 0}  # the risk panel's table: a row per instrument, both flat


def test_the_crosshair_on_one_chart_shows_the_same_time_on_the_other(window):
    play(window.session)
    window.refresh()
    es_fp, nq_fp = window.footprints
    i = len(es_fp.item.bars) - 3
    t = int(es_fp.item.bars.start_ns[i])
    vb = es_fp.plot.getViewBox()
    (_, _), (y0, y1) = vb.viewRange()
    es_fp._mouse_moved(vb.mapViewToScene(QtCore.QPointF(i, (y0 + y1) / 2)))
    j = int(np.searchsorted(nq_fp.item.bars.start_ns, t, side="right")) - 1
    assert int(nq_fp.item.bars.start_ns[j]) == t  # 1-minute bars of both start together
    assert nq_fp.cross_v.isVisible() and nq_fp.cross_v.value() == j and not nq_fp.cross_h.isVisible()
    assert "(linked)" in nq_fp.readout.text()
    es_fp._mouse_moved(QtCore.QPointF(-10, -10))  # off the chart: the linked line goes too
    assert not nq_fp.cross_v.isVisible()


def test_instruments_and_layout_persist_and_reopen_without_arguments(window, qtbot, tmp_path):
    window.select(1)
    window.footprints[1].set_ticks_per_row(4)
    window.docks["tape"].hide()
    window.save_settings()
    window.session.close()
    store = UiSettingsStore(tmp_path / "config" / "ui.ini")
    saved = workspace_sources_saved(store)
    assert [e["spec"] for e in saved] == [ES_SIM, NQ_SIM]
    s2, notes = reopen_workspace(saved, app_paths(tmp_path), speed=None)
    assert notes == [] and s2.specs == [ES_SIM, NQ_SIM]
    w2 = MainWindow(s2, store)
    qtbot.addWidget(w2)
    w2.show()
    assert w2.selected == 1 and w2.dom.instrument.root == "NQ"
    assert w2.footprints[1].item.ticks_per_row == 4 and w2.footprints[0].item.ticks_per_row == 1
    assert not w2.docks["tape"].isVisible() and w2.docks["footprint_1"].isVisible()
    s2.close()


def test_a_saved_source_that_is_gone_is_reported_and_the_rest_reopens(tmp_path, mbp1_file):
    saved = [{"spec": str(mbp1_file), "symbol": "ES", "tz": None},
             {"spec": str(tmp_path / "nq_gone.dbn.zst"), "symbol": "NQ", "tz": None},
             {"spec": NQ_SIM, "symbol": "NQ", "tz": None}]
    s, notes = reopen_workspace(saved, app_paths(tmp_path), speed=None)
    assert s.specs == [str(mbp1_file), NQ_SIM]
    assert len(notes) == 1 and "nq_gone.dbn.zst" in notes[0] and "no such file" in notes[0]
    s.close()
    s, notes = reopen_workspace(saved[1:2], app_paths(tmp_path), speed=None)
    assert len(s.feeds) == 1 and s.spec.startswith("sim:") and "sample" in notes[-1]
    s.close()


def test_one_source_keeps_its_one_chart_layout_and_starts_no_workspace(qtbot, tmp_path):
    s = build_session(ES_SIM, app_paths(tmp_path), speed=None, use_engine=False)
    store = UiSettingsStore(tmp_path / "config" / "ui.ini")
    w = MainWindow(s, store)
    qtbot.addWidget(w)
    assert w.footprints == [w.footprint] and w.instrument_box is None
    assert [d.windowTitle() for n, d in w.docks.items() if n in ("footprint", "dom")] == ["Footprint", "DOM"]
    w.save_settings()
    assert workspace_sources_saved(store) == []  # the next start without sources opens the sample
    s.close()


def test_screenshot_of_es_and_nq_side_by_side_on_the_real_files(qtbot, tmp_path, mbp1_file, csv_file):
    s = two(tmp_path, (str(mbp1_file), str(csv_file)), engine=True, symbol="NQ", tz="Europe/Madrid")
    w = MainWindow(s, UiSettingsStore(tmp_path / "config" / "ui.ini"))
    qtbot.addWidget(w)
    w.resize(1600, 960)
    w.show()
    play(s)
    w.refresh()
    w.select(1)
    w.refresh()
    QtWidgets.QApplication.processEvents()
    assert all(len(fp.item.bars) for fp in w.footprints)
    shot(w, "two_instruments_es_nq", tmp_path)
    s.close()


def test_gui_refuses_several_feeds_on_a_live_account_in_one_line(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TAPEFLOW_HOME=str(tmp_path / "home"))
    r = subprocess.run([sys.executable, "-m", "tapeflow.cli", "gui", ES_SIM, NQ_SIM, "--broker", "projectx", "--live"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    ours = [line for line in r.stderr.splitlines() if line.startswith("tapeflow")]
    assert len(ours) == 1 and "--live trades one feed" in ours[0]


def test_the_terminal_trades_two_instruments_exactly_as_a_backtest_of_the_same_sources(tmp_path):
    from backtest_scenario import ENTRY_RULES

    from tapeflow.backtest.runner import run_backtest
    from tapeflow.backtest.setup import rule_engine_factory

    rules = app_paths(tmp_path).rules_file
    rules.parent.mkdir(parents=True, exist_ok=True)
    rules.write_text(ENTRY_RULES)  # entries both ways on diagonal imbalances: both instruments trade
    s = two(tmp_path, engine=True)
    fills = []
    s.account.subscribe(lambda ev: fills.append(ev.fill) if ev.fill is not None else None)
    play(s)
    ours = [(f.instrument, f.side, f.qty, f.price, f.ts_ns) for f in fills]
    s.close()
    result = run_backtest([open_source(ES_SIM), open_source(NQ_SIM)], rule_engine_factory(rules))
    theirs = [(f.instrument, f.side, f.qty, f.price, f.ts_ns) for f in result.fills]
    assert {f[0] for f in theirs} == {"ES", "NQ"} and len(theirs) >= 4  # both instruments traded
    assert ours == theirs


def test_opening_another_file_in_a_window_of_two_goes_back_to_one_chart(tmp_path, qtbot):
    s = two(tmp_path)
    w = MainWindow(s, UiSettingsStore(tmp_path / "config" / "ui.ini"),
                   session_factory=lambda spec: build_session(spec, app_paths(tmp_path), speed=None,
                                                              use_engine=False, files=s.files))
    qtbot.addWidget(w)
    w.select(1)
    loop = asyncio.new_event_loop()  # the new session's feed task starts on the window's loop
    asyncio.set_event_loop(loop)
    try:
        assert w.open_spec("sim://open?seed=5&minutes=5")
    finally:
        w.session.runner.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        asyncio.set_event_loop(None)
        loop.close()
    assert w.footprints == [w.footprint] and "footprint_1" not in w.docks and w.instrument_box is None
    assert w.selected == 0 and w.docks["dom"].windowTitle() == "DOM" and w.dom.instrument.root == "ES"
    w.refresh()
    w.session.close()


def test_gui_without_feeds_reopens_the_last_instruments_and_reports_a_source_that_is_gone(tmp_path, mbp1_file):
    import shutil

    es_file = shutil.copy(mbp1_file, tmp_path / "es.dbn.zst")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TAPEFLOW_HOME=str(tmp_path / "home"))

    def gui(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "tapeflow.cli", "gui", *args, "--speed", "max", "--screenshot",
               str(tmp_path / "shot.png"), "--after", "0.3"]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)

    def saved() -> list[str]:
        return [e["spec"] for e in workspace_sources_saved(UiSettingsStore(tmp_path / "home" / "config" / "ui.ini"))]

    assert gui(str(es_file), "--feed", NQ_SIM).returncode == 0
    assert saved() == [str(es_file), NQ_SIM]
    r = gui()  # no feed: the same two again (closing saves them again)
    assert r.returncode == 0 and saved() == [str(es_file), NQ_SIM] and "not reopened" not in r.stderr
    os.remove(es_file)
    r = gui()
    assert r.returncode == 0, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("tapeflow:")]
    assert "not reopened" in line and "es.dbn.zst: no such file" in line
    assert saved() == []  # NQ alone was a one-source window: the next start opens the sample
