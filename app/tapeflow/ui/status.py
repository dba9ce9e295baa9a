"""Status bar line: trading mode (PAPER, or LIVE in red), the live connection under feed and broker
(Rithmic's shared session: FORCED_OUT in red with its reason), feed state, feed latency, events/s,
frame time, ET clock and session (RTH/ETH)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6 import QtWidgets

from tapeflow.trading.snapshot import is_live_account
from tapeflow.ui.feed_runner import FeedRunner, FeedState
from tapeflow.ui.replay_bar import speed_label
from tapeflow.ui.text import et_datetime, session_label
from tapeflow.ui.theme import Theme, restyle


def p95(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(0.95 * len(s)))]


class StatusLine(QtWidgets.QWidget):
    def __init__(self, theme: Theme, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.theme = theme
        self.labels: dict[str, QtWidgets.QLabel] = {}
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self._dots: dict[str, QtWidgets.QLabel] = {}
        for name in ("mode", "link", "feed", "latency", "rate", "frame", "clock", "session"):
            lab = QtWidgets.QLabel("--")
            lab.setObjectName(f"status_{name}")
            self.labels[name] = lab
            layout.addWidget(lab)
            if name != "session":
                self._dots[name] = QtWidgets.QLabel("·")
                layout.addWidget(self._dots[name])
        layout.addStretch(1)
        self.labels["link"].hide()  # shown only for a connection that lives under feed and broker
        self._dots["link"].hide()

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme

    def show_mode(self, account: str | None) -> None:
        """The account orders go to: a live one in red, all the time."""
        live = is_live_account(account)
        self.labels["mode"].setText(account if live else "PAPER")  # type: ignore[arg-type]
        restyle(self.labels["mode"], f"background: {self.theme.danger}; color: #ffffff; font-weight: bold;"
                if live else f"color: {self.theme.text_dim};")

    def show_link(self, state: Any) -> None:
        """The shared Rithmic session's state (a ``SessionState``): FORCED_OUT in red with its reason
        (it stays until the user reconnects by hand), CONNECTING/RECONNECTING in amber, UP quietly."""
        th = self.theme
        lab = self.labels["link"]
        phase = str(getattr(state.phase, "value", state.phase))
        lab.setText("Rithmic UP" if phase == "UP" else f"Rithmic {state}")
        lab.setToolTip(f"Rithmic session: {state}")
        style = {"UP": f"color: {th.ask};", "CLOSED": f"color: {th.text_dim};",
                 "FORCED_OUT": f"background: {th.danger}; color: #ffffff; font-weight: bold;"}
        restyle(lab, style.get(phase, f"color: {th.warning}; font-weight: bold;"))
        lab.show()
        self._dots["link"].show()

    def hide_link(self) -> None:
        """No shared live connection (the window's feed is a file, the simulator or a websocket)."""
        self.labels["link"].hide()
        self._dots["link"].hide()

    def show_figures(self, runner: FeedRunner, now_ns: int | None, frame_ms: Sequence[float]) -> None:
        f = runner.figures
        th = self.theme
        state = runner.state
        colors = {FeedState.PLAYING: th.ask, FeedState.PAUSED: th.warning, FeedState.ERROR: th.danger}
        color = colors.get(state, th.text_dim)
        text = f"replay {state.value} {speed_label(runner.speed)}"
        live = getattr(getattr(runner.replay, "source", None), "status", None)  # a live feed: its connection
        if live is not None and state is FeedState.PLAYING:
            st = live()
            ok = st.state.value == "LIVE"
            why = f": {st.last_error}" if st.last_error else ""
            text = "live" if ok else f"live feed {st.state.value.lower()}{why}"
            color = th.ask if ok else th.warning
        if state is FeedState.ERROR:
            text += f": {runner.error}"
        self.labels["feed"].setText(text)
        restyle(self.labels["feed"], f"color: {color}; font-weight: bold;")
        self.labels["latency"].setText(f"latency {f.latency_ms:.1f} ms" if f.latency_ms is not None else "latency --")
        self.labels["rate"].setText(f"{f.events_per_s:,.0f} ev/s")
        self.labels["frame"].setText(f"frame p95 {p95(frame_ms):.1f} ms · batch max {f.slowest_batch_ms:.0f} ms")
        self.labels["clock"].setText(et_datetime(now_ns))
        sess = session_label(now_ns)
        self.labels["session"].setText(sess)
        restyle(self.labels["session"], f"color: {th.last if sess == 'RTH' else th.warning}; font-weight: bold;")
