"""Replay controls: play/pause, speed, jump to an ET time, step one bar (a toolbar over a FeedRunner)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from PySide6 import QtCore, QtGui, QtWidgets

from tapeflow.core.sessions import EASTERN, NS_PER_SECOND, ns_to_et
from tapeflow.ui.feed_runner import FeedRunner

SPEEDS: tuple[tuple[str, float | None], ...] = (
    ("1x", 1.0), ("2x", 2.0), ("5x", 5.0), ("10x", 10.0), ("50x", 50.0), ("100x", 100.0), ("1000x", 1000.0),
    ("max", None),
)


def speed_label(speed: float | None) -> str:
    for label, s in SPEEDS:
        if s == speed:
            return label
    return "max" if speed is None else f"{speed:g}x"


class ReplayBar(QtWidgets.QToolBar):
    """The replay toolbar; ``runner_getter`` returns the current session's runner (files can change)."""

    def __init__(self, runner_getter: Callable[[], FeedRunner | None], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("Replay", parent)
        self.setObjectName("replayBar")
        self.runner_getter = runner_getter
        self.play_action = QtGui.QAction("Pause", self)
        self.play_action.setShortcut(QtGui.QKeySequence("F5"))
        self.play_action.setToolTip("Play / pause the replay (F5)")
        self.play_action.triggered.connect(self.toggle)
        self.step_action = QtGui.QAction("Step bar", self)
        self.step_action.setShortcut(QtGui.QKeySequence("F6"))
        self.step_action.setToolTip("Pause and play the rest of the current bar (F6)")
        self.step_action.triggered.connect(self.step_bar)
        self.speed_box = QtWidgets.QComboBox()
        self.speed_box.addItems([label for label, _ in SPEEDS])
        self.speed_box.currentIndexChanged.connect(self._speed_changed)
        self.time_edit = QtWidgets.QTimeEdit()
        self.time_edit.setDisplayFormat("HH:mm:ss")
        self.time_edit.setToolTip("Jump to this ET time of the replayed trading day")
        self.jump_action = QtGui.QAction("Jump", self)
        self.jump_action.triggered.connect(self.jump)
        self.addAction(self.play_action)
        self.addAction(self.step_action)
        self.addWidget(QtWidgets.QLabel(" speed "))
        self.addWidget(self.speed_box)
        self.addWidget(QtWidgets.QLabel("  jump to ET "))
        self.addWidget(self.time_edit)
        self.addAction(self.jump_action)
        self._jump_task: asyncio.Future | None = None

    def sync(self) -> None:
        """Reflect the runner's state (called on the status timer)."""
        r = self.runner_getter()
        if r is None:
            return
        self.play_action.setText("Play" if r.replay.paused else "Pause")
        label = speed_label(r.speed)
        if self.speed_box.currentText() != label:
            self.speed_box.blockSignals(True)
            if self.speed_box.findText(label) < 0:
                self.speed_box.addItem(label)
            self.speed_box.setCurrentText(label)
            self.speed_box.blockSignals(False)

    def toggle(self) -> None:
        r = self.runner_getter()
        if r is not None:
            r.toggle()
            self.sync()

    def step_bar(self) -> None:
        r = self.runner_getter()
        if r is not None:
            r.step_bar()
            self.sync()

    def _speed_changed(self, i: int) -> None:
        r = self.runner_getter()
        if r is not None and 0 <= i < len(SPEEDS):
            r.set_speed(SPEEDS[i][1])

    def set_speed(self, speed: float | None) -> None:
        self.speed_box.setCurrentText(speed_label(speed))

    def jump_target_ns(self) -> int | None:
        """The chosen ET wall time on the trading day being replayed, in UTC ns."""
        r = self.runner_getter()
        if r is None:
            return None
        now = r.time_ns() or r.last_ts()
        if now is None:
            return None
        day = ns_to_et(now).date()
        t = self.time_edit.time().toPython()
        return int(datetime.combine(day, t, tzinfo=EASTERN).timestamp()) * NS_PER_SECOND

    def jump(self) -> None:
        r = self.runner_getter()
        target = self.jump_target_ns()
        if r is None or target is None:
            return
        self._jump_task = asyncio.ensure_future(r.jump_to(target))

    def show_time(self, ts_ns: int | None) -> None:
        if ts_ns and not self.time_edit.hasFocus():
            et = ns_to_et(ts_ns)
            self.time_edit.blockSignals(True)
            self.time_edit.setTime(QtCore.QTime(et.hour, et.minute, et.second))
            self.time_edit.blockSignals(False)
