"""Frame time of the footprint pane offscreen, cached vs uncached, and the cost of a 50k-event burst.

Drives the real widgets (``QT_QPA_PLATFORM=offscreen``): a pipeline over the simulator builds N
one-minute bars, the footprint pane shows the last ``visible`` of them, and each frame renders
the chart into an image (what a repaint costs). "cached" is the shipping path (finished bars
replay their picture, only the live bar is redrawn); "uncached" redraws every bar each frame
(the baseline). Burst: 50,000 events processed in the replay's batch size, then one snapshot and
one full window frame (every pane), which is the longest the window can be blocked by a burst.

    .venv/bin/python benchmarks/bench_ui_frame.py [--bars 240] [--frames 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6 import QtGui, QtWidgets

from tapeflow.appdirs import app_paths
from tapeflow.core.instruments import instrument
from tapeflow.feeds.simulator import open_simulator
from tapeflow.pipeline import Pipeline
from tapeflow.ui.footprint_pane import FootprintPane
from tapeflow.ui.main_window import MainWindow
from tapeflow.ui.session import REPLAY_MAX_BATCH, build_session
from tapeflow.ui.settings_store import UiSettingsStore
from tapeflow.ui.theme import DARK, apply_theme

ZOOMS = ((200, 40), (60, 40), (20, 30))  # (bars visible, ticks visible)


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(0.95 * len(s)))]


def frame_times(pane: FootprintPane, image: QtGui.QImage, frames: int, snaps: list) -> list[float]:
    """Render ``frames`` frames, each after a new snapshot (the live bar changes every frame)."""
    out = []
    for k in range(frames):
        t0 = time.perf_counter()
        pane.update_from(snaps[k % len(snaps)])
        pane.item.update()
        image.fill(0)
        painter = QtGui.QPainter(image)
        pane.graphics.render(painter)
        painter.end()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=240, help="one-minute bars to build (default 240)")
    ap.add_argument("--frames", type=int, default=30)
    args = ap.parse_args()
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    apply_theme(app, DARK)

    pipe = Pipeline(instrument("ES"))
    events = np.concatenate(list(open_simulator(f"sim://rth?minutes={args.bars}&seed=2")))
    tail = 4000  # the last events arrive frame by frame, so the live bar changes each frame
    pipe.process(events[:-tail])
    snaps = []
    for chunk in np.array_split(events[-tail:], args.frames):
        pipe.process(chunk)
        snaps.append(pipe.snapshot())
    bars = snaps[-1].flow.bars
    levels = int(np.diff(bars.level_offsets).mean())

    pane = FootprintPane(instrument("ES"), DARK)
    pane.resize(1600, 900)
    pane.show()
    pane.update_from(snaps[0])
    pane.set_follow(False)
    image = QtGui.QImage(pane.graphics.size(), QtGui.QImage.Format.Format_ARGB32_Premultiplied)
    rows = [("bars built", len(bars), "bars", "", ""), ("levels per bar (mean)", levels, "ticks", "", "")]
    print(f"footprint frame, {pane.graphics.width()}x{pane.graphics.height()} px, {args.frames} frames per figure\n")
    for visible, ticks in ZOOMS:
        n = len(bars)
        mid = (int(bars.high[-visible:].max()) + int(bars.low[-visible:].min())) / 2
        pane.plot.getViewBox().setRange(xRange=(n - visible - 0.5, n + 0.5),
                                        yRange=(mid - ticks / 2, mid + ticks / 2), padding=0)
        pane.item.caching = True
        pane.item.invalidate()
        frame_times(pane, image, 2, snaps)  # warm the cache for this zoom
        cached = frame_times(pane, image, args.frames, snaps)
        pane.item.caching = False
        uncached = frame_times(pane, image, args.frames, snaps)
        pane.item.caching = True
        label = f"{visible} bars x {ticks} ticks"
        rows.append((f"frame p95, cached, {label}", p95(cached), "ms", p95(uncached),
                     p95(uncached) / max(p95(cached), 1e-9)))
        rows.append((f"frame mean, cached, {label}", statistics.mean(cached), "ms", statistics.mean(uncached),
                     statistics.mean(uncached) / max(statistics.mean(cached), 1e-9)))

    # burst: 50k events through the terminal's session in the replay batch size, then one window frame
    with tempfile.TemporaryDirectory() as home:
        session = build_session("sim://rth?minutes=30&seed=4", app_paths(Path(home)), speed=None)
        burst = np.concatenate(list(session.source))[:50_000]
        window = MainWindow(session, UiSettingsStore(Path(home) / "ui.ini"))
        window.resize(1600, 960)
        window.show()
        window.refresh()
        window.grab()  # the first paint polishes every widget once; the burst frame is measured warm
        steps = []
        t0 = time.perf_counter()
        for i in range(0, len(burst), REPLAY_MAX_BATCH):
            s0 = time.perf_counter()
            session.pipeline.process(burst[i : i + REPLAY_MAX_BATCH])
            steps.append((time.perf_counter() - s0) * 1000)
        total = (time.perf_counter() - t0) * 1000
        s0 = time.perf_counter()
        session.pipeline.snapshot()
        snap_ms = (time.perf_counter() - s0) * 1000
        s0 = time.perf_counter()
        window.refresh()
        window.grab()
        frame_ms = (time.perf_counter() - s0) * 1000
        window.close()
    rows += [
        ("burst: 50k events processed", total, "ms", "", ""),
        ("burst: events/s", len(burst) / (total / 1000), "ev/s", "", ""),
        (f"burst: longest single step ({REPLAY_MAX_BATCH} rows)", max(steps), "ms", "", ""),
        ("burst: one snapshot", snap_ms, "ms", "", ""),
        ("burst: one full window frame (all panes, painted)", frame_ms, "ms", "", ""),
    ]
    print(f"{'figure':58} {'value':>12} {'unit':6} {'baseline':>12} {'ratio':>7}")
    for name, value, unit, base, ratio in rows:
        v = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
        b = f"{base:,.2f}" if isinstance(base, float) else ""
        r = f"{ratio:.1f}x" if isinstance(ratio, float) else ""
        print(f"{name:58} {v:>12} {unit:6} {b:>12} {r:>7}")
    print("\nbaseline = the same frame with the picture cache off (every visible bar redrawn).")


if __name__ == "__main__":
    main()
