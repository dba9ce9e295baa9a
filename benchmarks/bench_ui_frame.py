"""The terminal's responsiveness during a replay at max speed: the real main window, offscreen.

What issue 5 asks: a replay at max speed must keep the window responsive (no event-loop stall
above 50 ms, frame time p95 under 16 ms with 200 bars x 40 levels visible). This drives the real
:class:`MainWindow` on the qasync loop the app uses, with the real :class:`FeedRunner` feeding the
pipeline at max speed:

* **sim**: the NQ simulator at its RTH density (about 11k events per market minute) in 2-minute
  bars (about 40 price levels per bar); 200 bars are processed before the clock starts, then the
  footprint follows the live bar with 200 bars in view while the rest is replayed at max speed.
* **two instruments** (issue 18: "UI frame p95 under 16 ms with two footprints at max replay"): the
  NQ simulator above and the ES simulator side by side in one window (two footprints, one account,
  one replay clock on their merged tape), 200 bars each preloaded; its table's baseline column is
  the one-instrument run of the same invocation.
* **file**: the largest real file in ``/work/shared/data`` (only 2,288 records: it is over in a
  few frames, so its figures say little; they are printed all the same).

Frame time = one tick of the window's frame timer: the snapshot, the panes' update (``MainWindow.tick``:
the charts every frame, the table panes at 10 Hz), then the
paint Qt does for it (posted events flushed: graphics-scene updates and the repaint of the dirty
widgets into the offscreen backing store). A 4 ms heartbeat timer measures the longest time the
event loop was unable to run it (the stall). Events/s = events the feed processed per wall second.

Baseline, same run: the same replay with the frame timer ticking but only taking the snapshot (no
pane updated, nothing repainted): what the feed and the snapshot cost on their own.

    .venv/bin/python benchmarks/bench_ui_frame.py [--seconds 12] [--runs 3] [--profile [--profile-phase N]]
        [--trace-slow MS] [--shots DIR] [--no-two] [--no-file]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import qasync
from PySide6 import QtCore, QtWidgets

from tapeflow.appdirs import app_paths
from tapeflow.runtime import settle_heap
from tapeflow.ui.main_window import MainWindow
from tapeflow.ui.session import build_session
from tapeflow.ui.settings_store import UiSettingsStore
from tapeflow.ui.theme import DARK, apply_theme

SIM_SPEC = "sim://rth?symbol=NQ&time=07:30&minutes=510&seed=2"  # to the 16:00 close: 255 bars
SIM_SPEC_ES = "sim://rth?symbol=ES&time=07:30&minutes=510&seed=1"  # beside it in the two-instrument run
SIM_BAR = "2m"
REAL_FILE = Path("/work/shared/data/futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst")
VISIBLE_BARS = 200
HEARTBEAT_MS = 4
PANES = ("footprint", "delta", "dom", "tape", "signals", "risk")
PHASES = {0: "DOM (+2nd chart)", 1: "tape/log/profile", 2: "chart (+2nd profile)"}
"""What each phase of the window's frame timer refreshes besides the charts' bars (``MainWindow.tick``);
in brackets what it adds with two instruments (the second chart in full, the second chart's profile)."""


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def preload(session, bars: int) -> int:
    """Process events (outside the loop, before the clock starts) until every instrument has ``bars`` bars."""
    n = 0
    while min(len(f.pipeline.flow.bars()) for f in session.feeds) < bars:
        chunk = session.replay.step_events(65_536)
        if not len(chunk):
            break
        session.runner.steps.process(chunk)  # one pipeline, or each instrument's rows to its own
        n += len(chunk)
    session.replay.resume()
    return n


def timed(f, record):
    """``f`` wrapped to hand ``record`` the wall time of each call (ms)."""
    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return f(*a, **k)
        finally:
            record((time.perf_counter() - t0) * 1000)
    return wrapper


def time_table_paints(window) -> dict[str, list[float]]:
    """Time the paint events of the table panes' views (the Python part of their repaint: the cells),
    by pane. The wrapper is on the class: ``restore_table_paints()`` takes it off."""
    from tapeflow.ui.cell_delegate import CellTableView

    out: dict[str, list[float]] = defaultdict(list)
    names = {id(pane.table): n for n, pane in panes_of(window).items() if hasattr(pane, "table")}
    orig = CellTableView.__dict__["paintEvent"]

    def paint_event(self, event, _orig=orig):
        t0 = time.perf_counter()
        try:
            return _orig(self, event)
        finally:
            name = names.get(id(self))
            if name is not None:
                out[name].append((time.perf_counter() - t0) * 1000)

    CellTableView.paintEvent = paint_event
    _restore.append(lambda: setattr(CellTableView, "paintEvent", orig))
    return out


_restore: list = []


def restore_table_paints() -> None:
    while _restore:
        _restore.pop()()


def trace_footprint(window, slow_ms: float) -> dict[str, list[float]]:
    """Time the parts of the footprint pane's update (and garbage collections inside it); print every
    update slower than ``slow_ms`` with what it did, its wall and CPU time (CPU well under wall: the
    thread was off the CPU, not working). Returns the parts dict the pane's wrapper fills."""
    fp = window.footprint
    vb = fp.plot.getViewBox()
    parts: dict[str, list[float]] = {}

    def seg(name, f):
        return timed(f, lambda ms: parts.setdefault(name, []).append(ms))

    fp.item.set_bars = seg("bars", fp.item.set_bars)  # a new bar, the live bar, a new high or low
    fp.highlights.set_content = seg("overlay", fp.highlights.set_content)  # signals / zones changed
    fp.profile.set_profile = seg("profile", fp.profile.set_profile)
    fp._follow = seg("follow", fp._follow)  # auto-follow: scroll to a new bar, re-centre price
    vb.setRange = seg("range", vb.setRange)  # the view (and the linked delta pane) moved
    scene = fp.graphics.scene()
    scene.prepareForPaint = seg("prepare", scene.prepareForPaint)  # view matrix, axes
    gc_t0 = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            gc_t0[0] = time.perf_counter()
        else:
            parts.setdefault(f"gc{info['generation']}", []).append((time.perf_counter() - gc_t0[0]) * 1000)

    gc.callbacks.append(on_gc)
    orig = fp.update_from

    def update_from(snap, *a, **k):
        parts.clear()
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return orig(snap, *a, **k)
        finally:
            wall, cpu = (time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000
            if wall > slow_ms:
                what = " ".join(f"{n}={sum(v):.2f}" + (f"x{len(v)}" if len(v) > 1 else "")
                                for n, v in parts.items() if sum(v) >= 0.05)
                print(f"slow footprint.update_from {wall:.2f} ms (cpu {cpu:.2f} ms) bars={len(snap.flow.bars)} "
                      f"signals={len(snap.signals)} {k}: {what}", flush=True)

    fp.update_from = update_from
    window._trace_gc = on_gc  # removed by the caller
    return parts


def panes_of(window) -> dict:
    """Name -> pane of the window: the footprints (``footprint``, ``footprint_1``, ...) and the rest."""
    out = {"footprint": window.footprint}
    out.update({f"footprint_{k}": fp for k, fp in enumerate(window.footprints[1:], 1)})
    out.update({n: getattr(window, n) for n in PANES if n != "footprint"})
    return out


def run(spec: str | list[str], bar: str, *, panes: bool, seconds: float, preload_bars: int, profile: bool,
        shots: Path | None, tag: str, trace_slow: float | None = None, profile_phase: int | None = None) -> dict:
    """One replay at max speed in a fresh window; returns the figures."""
    app = QtWidgets.QApplication.instance()
    with tempfile.TemporaryDirectory() as home:
        session = build_session(spec, app_paths(Path(home)), speed=None, bar=bar)
        session.replay.pause()
        pre = preload(session, preload_bars) if preload_bars else 0
        session.replay.resume()
        store = UiSettingsStore(Path(home) / "ui.ini")
        window = MainWindow(session, store)
        window.resize(1600, 960)
        for fp in window.footprints:
            fp.visible_bars = VISIBLE_BARS
        window.replay_bar.set_speed(None)
        window.show()
        window.refresh()
        QtCore.QCoreApplication.sendPostedEvents()
        window.grab()  # first paint polishes every widget; measured frames are warm
        settle_heap()  # as the terminal does once its window is up (tapeflow.ui.app.run_terminal)

        if trace_slow is not None and panes:
            trace_footprint(window, trace_slow)
        pane_ms: dict[str, list[float]] = defaultdict(list)
        for name, pane in panes_of(window).items():
            pane.update_from = timed(pane.update_from, pane_ms[name].append)

        frames: list[float] = []
        cpu_ms: list[float] = []  # the frame's CPU time on this thread: what other processes' load does not inflate
        paint_ms: list[float] = []
        phase_frames: dict[int, list[float]] = defaultdict(list)  # by the window's phase (which panes refresh)
        phase_paint: dict[int, list[float]] = defaultdict(list)
        phase_cpu: dict[int, list[float]] = defaultdict(list)
        table_paint = time_table_paints(window)
        profiler = cProfile.Profile() if profile else None

        frame = getattr(window, "tick", window.refresh)  # what the window's frame timer runs

        def tick() -> None:
            t0, c0 = time.perf_counter(), time.thread_time()
            next_phase = (getattr(window, "_phase", 0) + 1) % 3
            if profiler is not None and (profile_phase is None or profile_phase == next_phase):
                profiler.enable()
            if panes:
                frame()
                t1 = time.perf_counter()
                QtCore.QCoreApplication.sendPostedEvents()  # scene updates -> widget updates
                QtCore.QCoreApplication.sendPostedEvents()  # the repaints they posted
                paint_ms.append((time.perf_counter() - t1) * 1000)
            else:
                for f in session.feeds:
                    f.pipeline.snapshot()
            if profiler is not None:
                profiler.disable()
            frames.append((time.perf_counter() - t0) * 1000)
            cpu_ms.append((time.thread_time() - c0) * 1000)
            if panes:
                phase = getattr(window, "_phase", 0)
                phase_frames[phase].append(frames[-1])
                phase_paint[phase].append(paint_ms[-1])
                phase_cpu[phase].append(cpu_ms[-1])

        window.frame_timer.timeout.disconnect()
        window.frame_timer.timeout.connect(tick)

        gaps: list[float] = []
        last = [0.0]

        def beat() -> None:
            now = time.perf_counter()
            if last[0]:
                gaps.append(max(0.0, (now - last[0]) * 1000 - HEARTBEAT_MS))
            last[0] = now

        heartbeat = QtCore.QTimer()
        heartbeat.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        heartbeat.setInterval(HEARTBEAT_MS)
        heartbeat.timeout.connect(beat)

        loop = qasync.QEventLoop(app, already_running=False)
        asyncio.set_event_loop(loop)
        ev0 = session.runner.figures.events

        async def main() -> float:
            heartbeat.start()
            t0 = time.perf_counter()
            window.start()
            task = session.runner._task
            while time.perf_counter() - t0 < seconds and task is not None and not task.done():
                await asyncio.sleep(0.05)
            wall = time.perf_counter() - t0
            window.frame_timer.stop()
            heartbeat.stop()
            session.runner.pause()
            return wall

        with loop:
            wall = loop.run_until_complete(main())
        events = session.runner.figures.events - ev0
        snap = window.last_snapshot or session.pipeline.snapshot()
        b = snap.flow.bars
        n_bars = len(b)
        vis = min(n_bars, VISIBLE_BARS)
        levels = float(np.diff(b.level_offsets)[-vis:].mean()) if n_bars else 0.0
        (x0, x1), (y0, y1) = window.footprint.plot.getViewBox().viewRange()
        if shots is not None:
            window.refresh()  # every pane up to date (the timer refreshes the table panes in turn)
            QtCore.QCoreApplication.sendPostedEvents()
            shots.mkdir(parents=True, exist_ok=True)
            window.grab().save(str(shots / f"perf_{tag}_window.png"))
            for name in panes_of(window):
                window.docks[name].grab().save(str(shots / f"perf_{tag}_{name}.png"))
        session.runner.cancel()
        if getattr(window, "_trace_gc", None) in gc.callbacks:
            gc.callbacks.remove(window._trace_gc)
        window.frame_timer.stop()
        window.status_timer.stop()
        window.hide()
        window.deleteLater()
        restore_table_paints()
        QtCore.QCoreApplication.sendPostedEvents()
    if profiler is not None:
        print(f"\n--- cProfile of the frame ticks ({tag}) ---")
        st = pstats.Stats(profiler)
        st.sort_stats("tottime").print_stats(30)
        st.sort_stats("cumulative").print_stats(40)
    return {
        "events": events, "wall": wall, "preloaded": pre, "frames": frames, "cpu": cpu_ms, "paint": paint_ms,
        "gaps": gaps, "pane_ms": dict(pane_ms), "phase_frames": dict(phase_frames), "phase_paint": dict(phase_paint),
        "phase_cpu": dict(phase_cpu),
        "table_paint": dict(table_paint), "bars": n_bars, "levels": levels,
        "x_span": x1 - x0, "y_span": y1 - y0,
    }


def pooled(runs: list[dict]) -> dict:
    """Several runs as one: events and wall time summed, frames and stalls pooled, the view of the last."""
    out = dict(runs[-1])
    out["events"] = sum(r["events"] for r in runs)
    out["wall"] = sum(r["wall"] for r in runs)
    for key in ("frames", "cpu", "paint", "gaps"):
        out[key] = [x for r in runs for x in r[key]]
    for key in ("pane_ms", "phase_frames", "phase_paint", "phase_cpu", "table_paint"):
        out[key] = {name: [x for r in runs for x in r[key].get(name, [])] for name in {n for r in runs for n in r[key]}}
    return out


def table(title: str, got: dict, base: dict) -> None:
    def row(name, value, unit, baseline=None):
        v = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
        b = "" if baseline is None else (f"{baseline:,.2f}" if isinstance(baseline, float) else f"{baseline:,}")
        r = f"{value / baseline:.2f}x" if isinstance(baseline, (int, float)) and baseline else ""
        print(f"{name:46} {v:>12} {unit:6} {b:>12} {r:>8}")

    f, bf = got["frames"], base["frames"]
    print(f"\n{title}")
    print(f"{'figure':46} {'value':>12} {'unit':6} {'baseline':>12} {'ratio':>8}")
    row("bars in the session / in view", f"{got['bars']} / {got['x_span']:.0f}", "bars")
    row("price levels per bar (mean of those in view)", got["levels"], "ticks")
    row("price span in view", got["y_span"], "ticks")
    row("events replayed (after preload)", got["events"], "events", base["events"])
    row("wall time", got["wall"], "s", base["wall"])
    row("events/s", got["events"] / got["wall"], "ev/s", base["events"] / base["wall"])
    row("frames", len(f), "frames", len(bf))
    row("frame time p50", pct(f, 0.5), "ms", pct(bf, 0.5))
    row("frame time p95", pct(f, 0.95), "ms", pct(bf, 0.95))
    row("frame time max", max(f, default=float("nan")), "ms", max(bf, default=float("nan")))
    row("frame CPU time p50 / p95 (this thread)", f"{pct(got['cpu'], 0.5):.2f} / {pct(got['cpu'], 0.95):.2f}", "ms")
    row("  of which paint p95", pct(got["paint"], 0.95), "ms")
    for name in sorted(got["pane_ms"], key=lambda n: (PANES.index(n.split("_")[0]), n)):
        xs = got["pane_ms"].get(name, [])
        if xs:
            row(f"  {name}.update_from p95 / max", f"{pct(xs, 0.95):.2f} / {max(xs):.2f}", "ms")
    for phase, what in PHASES.items():
        xs, ps = got["phase_frames"].get(phase, []), got["phase_paint"].get(phase, [])
        cs = got["phase_cpu"].get(phase, [])
        if xs:
            row(f"  {what}: p95 wall / paint / CPU",
                f"{pct(xs, 0.95):.2f} / {pct(ps, 0.95):.2f} / {pct(cs, 0.95):.2f}", "ms")
    for name in PANES:
        xs = got["table_paint"].get(name, [])
        if xs:
            row(f"  {name} table paintEvent p95 / max", f"{pct(xs, 0.95):.2f} / {max(xs):.2f}", "ms")
    row("longest event-loop stall", max(got["gaps"], default=0.0), "ms", max(base["gaps"], default=0.0))
    row("event-loop stalls > 50 ms", sum(g > 50 for g in got["gaps"]), "count", sum(g > 50 for g in base["gaps"]))
    row("mean frame rate", len(f) / got["wall"], "fps", len(bf) / base["wall"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0, help="wall seconds of replay per run (default 12)")
    ap.add_argument("--profile", action="store_true", help="cProfile the frame ticks of the sim runs (one and two)")
    ap.add_argument("--profile-phase", type=int, default=None, choices=sorted(PHASES), metavar="N",
                    help="with --profile, only the frames of this phase (0 DOM, 1 tape/log/profile, 2 full chart)")
    ap.add_argument("--shots", type=Path, default=None, help="save window and pane screenshots here")
    ap.add_argument("--trace-slow", type=float, default=None, metavar="MS",
                    help="print each footprint update slower than MS with what it did (parts, CPU vs wall time)")
    ap.add_argument("--no-file", action="store_true", help="skip the real-file run")
    ap.add_argument("--no-two", action="store_true", help="skip the two-instrument run")
    ap.add_argument("--runs", type=int, default=3, help="fresh sim runs pooled into one table (default 3)")
    args = ap.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    apply_theme(app, DARK)
    common = {"seconds": args.seconds, "preload_bars": VISIBLE_BARS + 2, "trace_slow": args.trace_slow,
              "profile_phase": args.profile_phase}
    # the rest of the session after the preload replays in a second or two once the panes keep up:
    # a few fresh runs pooled give the percentiles enough frames to mean something
    got = pooled([run(SIM_SPEC, SIM_BAR, panes=True, profile=args.profile and k == 0,
                      shots=args.shots if k == 0 else None, tag="sim", **common) for k in range(args.runs)])
    base = pooled([run(SIM_SPEC, SIM_BAR, panes=False, profile=False, shots=None, tag="sim_base", **common)
                   for _ in range(args.runs)])
    print(f"\nspec {SIM_SPEC}, {SIM_BAR} bars, max speed, window 1600x960 offscreen, "
          f"{VISIBLE_BARS} bars preloaded ({got['preloaded']:,} events) then replayed for up to {args.seconds:g} s; "
          f"{args.runs} runs pooled")
    table("simulator (NQ, RTH density)", got, base)
    if not args.no_two:
        got2 = pooled([run([SIM_SPEC_ES, SIM_SPEC], SIM_BAR, panes=True, profile=args.profile and k == 0,
                           shots=args.shots if k == 0 else None, tag="two", **common) for k in range(args.runs)])
        table("two instruments (ES + NQ simulators side by side, two footprints; baseline: NQ alone above)",
              got2, got)
        print(f"\n{'frame time':14} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'CPU p95 ms':>11} {'events/s':>12}")
        for name, r in (("one (NQ)", got), ("two (ES+NQ)", got2)):
            f = r["frames"]
            print(f"{name:14} {pct(f, 0.5):8.2f} {pct(f, 0.95):8.2f} {max(f, default=float('nan')):8.2f} "
                  f"{pct(r['cpu'], 0.95):11.2f} {r['events'] / r['wall']:12,.0f}")
    if REAL_FILE.is_file() and not args.no_file:
        common = {"seconds": args.seconds, "preload_bars": 0, "trace_slow": args.trace_slow,
                  "profile_phase": None}
        got = run(str(REAL_FILE), "1m", panes=True, profile=False, shots=args.shots, tag="file", **common)
        base = run(str(REAL_FILE), "1m", panes=False, profile=False, shots=None, tag="file_base", **common)
        table(f"real file {REAL_FILE.name} (1m bars; the whole file)", got, base)
    print("\nbaseline = the same replay with the frame timer taking the snapshot only (no pane updated or painted).")
    print("goal (issue 5): longest stall <= 50 ms, frame time p95 < 16 ms with 200 bars x 40 levels in view.")


if __name__ == "__main__":
    main()
