"""Risk panel: trading state, kill switch, limits as gauges, P&L, positions and automation switches.

The kill switch button and the window's Ctrl+Shift+K both call :meth:`RiskPane.kill`, which
pulls ``Account.kill``: it takes effect at once (before any queued order) and stays latched,
shown in red here, until someone re-arms it by hand with :meth:`rearm`, which asks for a
confirmation first. Automation switches go through ``Account.set_automation`` (refused while
latched) so the panel can never switch on what the kill switch switched off. A re-arm the
journal or the latch file cannot record is refused, said here, and the switch stays latched.
Alarms (a kill latched in memory only, a journal that stopped recording) top the panel in red.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from tapeflow.core.instruments import Instrument, instrument
from tapeflow.errors import TapeflowError
from tapeflow.pipeline import PipelineSnapshot
from tapeflow.trading.account import Account
from tapeflow.trading.orders import AUTOMATED_SOURCES, Source
from tapeflow.trading.risk import es_text
from tapeflow.trading.settings import TradingState
from tapeflow.trading.snapshot import AccountSnapshot, is_live_account
from tapeflow.ui.text import et_time, usd
from tapeflow.ui.theme import Theme, restyle

Confirm = Callable[[QtWidgets.QWidget, str, str], bool]


def ask_confirmation(parent: QtWidgets.QWidget, title: str, text: str) -> bool:
    """A Yes/No dialog defaulting to No (re-arming is deliberate)."""
    buttons = QtWidgets.QMessageBox.StandardButton
    answer = QtWidgets.QMessageBox.question(parent, title, text, buttons.Yes | buttons.No, buttons.No)
    return answer == buttons.Yes


def _gauge_text(rule: str, used: int, limit: int, unit: str) -> str:
    if unit == "es_tenths":
        return f"{rule.replace('_', ' ')}: {es_text(used)} of {es_text(limit)} ES-equivalent"
    if unit == "cents":
        return f"{rule.replace('_', ' ')}: {usd(used)} of {usd(limit)}"
    return f"{rule.replace('_', ' ')}: {used} of {limit} {unit}"


class RiskPane(QtWidgets.QWidget):
    """Risk panel dock content."""

    def __init__(self, instrument: Instrument, theme: Theme, account: Account | None, *,
                 user: str | None = None, confirm: Confirm = ask_confirmation,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("risk")
        self.instrument = instrument
        self.theme = theme
        self.account = account
        self.user = user or _user_name()
        self.confirm = confirm
        self._key: tuple | None = None

        self.mode_label = QtWidgets.QLabel("")  # PAPER, or LIVE in red with the venue account
        self.mode_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.mode_label.setObjectName("tradingMode")
        self.state_label = QtWidgets.QLabel("--")
        self.state_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.state_label.setObjectName("tradingState")
        self.alarm_label = QtWidgets.QLabel("")  # what needs a person now (AccountSnapshot.alarms)
        self.alarm_label.setObjectName("riskAlarm")
        self.alarm_label.setWordWrap(True)
        self.alarm_label.hide()
        self.kill_button = QtWidgets.QPushButton("KILL SWITCH\nCtrl+Shift+K")
        self.kill_button.setObjectName("killSwitch")
        self.kill_button.setMinimumHeight(64)
        self.kill_button.clicked.connect(lambda: self.kill("risk panel button"))
        self.latch_label = QtWidgets.QLabel("")
        self.latch_label.setWordWrap(True)
        self.rearm_button = QtWidgets.QPushButton("Re-arm…")
        self.rearm_button.clicked.connect(self.rearm)

        self.automation: dict[Source, QtWidgets.QCheckBox] = {}
        auto_row = QtWidgets.QHBoxLayout()
        auto_row.addWidget(QtWidgets.QLabel("Automation:"))
        for src in AUTOMATED_SOURCES:
            box = QtWidgets.QCheckBox(str(src))
            box.clicked.connect(lambda on, src=src: self.set_automation(src, on))
            self.automation[src] = box
            auto_row.addWidget(box)
        auto_row.addStretch(1)

        self.figures = QtWidgets.QLabel("")
        self.figures.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.flat_label = QtWidgets.QLabel("flat")  # no instrument traded or held yet
        self.positions = InstrumentTable()
        self.positions.hide()
        self.gauges_box = QtWidgets.QVBoxLayout()
        self.gauges: dict[str, QtWidgets.QProgressBar] = {}
        self.reject_label = QtWidgets.QLabel("")  # the account's last refusal (any source)
        self.reject_label.setWordWrap(True)
        self.notice = QtWidgets.QLabel("")  # what this panel was refused
        self.notice.setWordWrap(True)

        # A short dock scrolls the whole panel rather than squeezing its rows to nothing.
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        body = QtWidgets.QWidget()
        self.scroll.setWidget(body)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        layout = QtWidgets.QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.alarm_label)
        layout.addWidget(self.mode_label)
        layout.addWidget(self.state_label)
        layout.addWidget(self.kill_button)
        latch = QtWidgets.QHBoxLayout()
        latch.addWidget(self.latch_label, 1)
        latch.addWidget(self.rearm_button)
        layout.addLayout(latch)
        layout.addLayout(auto_row)
        layout.addWidget(self.flat_label)
        layout.addWidget(self.positions)
        layout.addWidget(self.figures)
        layout.addLayout(self.gauges_box)
        layout.addWidget(self.reject_label)
        layout.addWidget(self.notice)
        layout.addStretch(1)
        self.apply_theme(theme)
        if account is None:
            for w in (self.kill_button, self.rearm_button, *self.automation.values()):
                w.setEnabled(False)
            self.state_label.setText("no trading account")

    # ---------------------------------------------------------------- actions

    def kill(self, why: str = "hotkey") -> bool:
        """Pull the kill switch now: cancel, flatten, automation off, latched."""
        if self.account is None:
            return False
        self.account.kill(by=self.user, reason=why)
        self._key = None
        self.refresh()
        return True

    def rearm(self) -> bool:
        """Release the latch by hand after a confirmation; automation stays off."""
        if self.account is None or not self.account.kill_switch.latched:
            return False
        text = ("Re-arm the kill switch?\n\nOrders will be accepted again. Automation stays off until you "
                "switch each source on.")
        if not self.confirm(self, "Re-arm kill switch", text):
            return False
        try:
            self.account.rearm(by=self.user)  # journal first, then the latch file: either may refuse
        except TapeflowError as e:  # JournalError included: nothing changed, the switch stays latched
            self.notice.setText(f"re-arm refused: {e}")
            self._key = None
            self.refresh()
            return False
        self.notice.setText("")
        self._key = None
        self.refresh()
        return True

    def set_automation(self, source: Source, on: bool) -> None:
        if self.account is None:
            return
        res = self.account.set_automation(source, on, by=self.user)
        self.notice.setText(f"{source} automation: {res.reason}" if not res.ok else "")
        self._key = None
        self.refresh()

    def refresh(self) -> None:
        if self.account is not None:
            self.show_account(self.account.snapshot())

    # ---------------------------------------------------------------- frames

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.kill_button.setStyleSheet(
            f"QPushButton#killSwitch {{ background: {theme.danger}; color: #ffffff; font-size: 16px;"
            f" font-weight: bold; border: 2px solid #7f0000; border-radius: 6px; }}"
            f"QPushButton#killSwitch:pressed {{ background: #7f0000; }}"
        )
        self.reject_label.setStyleSheet(f"color: {theme.warning};")
        self.notice.setStyleSheet(f"color: {theme.warning}; font-weight: bold;")
        self._key = None

    def update_from(self, snap: PipelineSnapshot) -> bool:
        if snap.account is None:
            return False
        return self.show_account(snap.account)

    def show_account(self, a: AccountSnapshot) -> bool:
        key = (a.state, a.kill_switch_latched, tuple(a.automation.items()), a.positions, a.realized_today_cents,
               a.unrealized_cents, a.limits, a.trades_today, a.working_orders, a.last_reject, a.state_rule,
               a.instruments, a.account, a.venue_realized_today_cents, a.venue_balance_cents, a.venue_entries_halted,
               a.kill_switch_persisted, a.kill_switch_save_error, a.journal_errors, a.journal_error)
        if key == self._key:
            return False
        self._key = key
        th = self.theme
        colors = {TradingState.ACTIVE: th.ask, TradingState.REDUCING: th.warning, TradingState.HALTED: th.danger}
        # A latched kill switch refuses every order but its own flatten, whatever the risk state says:
        # the state reads as the switch, in red, never a green ACTIVE beside it.
        color = th.danger if a.kill_switch_latched else th.warning if a.venue_entries_halted else colors[a.state]
        live = is_live_account(a.account)
        self.mode_label.setText(a.account if live else "PAPER")
        restyle(self.mode_label, f"background: {th.danger}; color: #ffffff; font-weight: bold; padding: 4px;"
                if live else f"color: {th.text_dim};")
        if a.kill_switch_latched:
            state = "KILLED: NO NEW ORDERS"
        elif a.venue_entries_halted:  # the venue connection, not a limit: say which
            state = "NO ENTRIES: " + ("RECONCILING" if a.venue_entries_halted.startswith("reconciling")
                                      else "LINK DOWN")
        else:
            state = a.state.value.upper() + (f" ({a.state_rule})" if a.state_rule else "")
        self.state_label.setText(state)
        self.state_label.setToolTip(a.venue_entries_halted)
        alarms = a.alarms()
        self.alarm_label.setText("\n\n".join(alarms))
        self.alarm_label.setVisible(bool(alarms))
        restyle(self.alarm_label, f"background: {th.danger}; color: #ffffff; font-size: 14px; font-weight: bold;"
                " padding: 8px; border: 3px solid #ffeb3b; border-radius: 4px;")
        restyle(self.state_label,
                f"background: {color}; color: #ffffff; font-size: 15px; font-weight: bold; padding: 6px;"
                " border-radius: 4px;")
        if a.kill_switch_latched:
            self.latch_label.setText(f"KILL SWITCH LATCHED by {a.kill_switch_by}: {a.kill_switch_reason}")
            restyle(self.latch_label, f"color: {th.danger}; font-weight: bold;")
        else:
            self.latch_label.setText("kill switch armed (not pulled)")
            restyle(self.latch_label, f"color: {th.text_dim};")
        self.rearm_button.setEnabled(a.kill_switch_latched)
        for src, box in self.automation.items():
            box.blockSignals(True)
            box.setChecked(bool(a.automation.get(str(src), False)))
            box.blockSignals(False)
        def money(c: int) -> str:
            return f"<span style='color:{th.ask if c >= 0 else th.bid}'>{usd(c)}</span>"

        self.positions.show_rows(a, th)
        self.positions.setVisible(bool(a.instruments))
        self.flat_label.setVisible(not a.instruments)

        rows = [
            ("realized today", money(a.realized_today_cents)),
            *([("realized today (broker)", money(a.venue_realized_today_cents))]
              if a.venue_realized_today_cents is not None else []),
            *([("balance (broker)", money(a.venue_balance_cents))] if a.venue_balance_cents is not None else []),
            ("open P&amp;L", money(a.unrealized_cents)),
            ("day P&amp;L", money(a.day_pnl_cents)),
            ("trades today", str(a.trades_today)),
            ("exposure", f"{es_text(a.exposure_tenths)} ES-equivalent"),
            ("losses in a row", str(a.consecutive_losses)),
            ("working orders", str(a.working_orders)),
        ]
        if a.cooldown_until_ns > a.ts_ns:
            rows.append(("cooldown until", et_time(a.cooldown_until_ns) + " ET"))
        if a.paused_until_ns > a.ts_ns:
            rows.append(("paused until", et_time(a.paused_until_ns) + " ET"))
        self.figures.setText("<table>" + "".join(
            f"<tr><td style='color:{th.text_dim}; padding-right:10px'>{k}</td><td>{v}</td></tr>" for k, v in rows)
            + "</table>")
        self._show_gauges(a)
        self.reject_label.setText(f"last refusal: {a.last_reject}" if a.last_reject else "")
        return True

    def _show_gauges(self, a: AccountSnapshot) -> None:
        seen = set()
        for g in a.limits:
            seen.add(g.rule)
            bar = self.gauges.get(g.rule)
            if bar is None:
                bar = QtWidgets.QProgressBar()
                bar.setTextVisible(True)
                self.gauges[g.rule] = bar
                self.gauges_box.addWidget(bar)
            bar.setRange(0, max(1, g.limit))
            bar.setValue(min(g.used, g.limit))
            bar.setFormat(_gauge_text(g.rule, g.used, g.limit, g.unit))
            share = g.used / g.limit if g.limit else 0.0
            chunk = self.theme.ask if share < 0.6 else self.theme.warning if share < 0.9 else self.theme.danger
            restyle(bar, f"QProgressBar::chunk {{ background: {chunk}; }} QProgressBar {{ text-align: center; }}")
        for rule in [r for r in self.gauges if r not in seen]:
            self.gauges.pop(rule).deleteLater()


class InstrumentTable(QtWidgets.QTableWidget):
    """A row per instrument (position, average, open and today's P&L, working orders, its max
    position); the figures below it are the account totals. Sized to its rows and columns, with
    no scrollbar of its own: the panel's scroll area scrolls it, so a short dock never squeezes a
    row out of sight or cuts a column off."""

    HEADERS = ("", "pos", "avg", "open", "today", "orders", "max")

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, len(self.HEADERS), parent)
        self.setObjectName("riskInstruments")
        self.setHorizontalHeaderLabels(list(self.HEADERS))
        font = self.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.9))
        self.setFont(font)
        self.horizontalHeader().setFont(font)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(QtGui.QFontMetrics(font).height() + 4)
        self.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setHighlightSections(False)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setShowGrid(False)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Fixed)

    def show_rows(self, a: AccountSnapshot, theme: Theme) -> None:
        self.setRowCount(len(a.instruments))
        for i, r in enumerate(a.instruments):
            inst = instrument(r.instrument)
            avg = "" if r.avg_price_ticks is None else f"{r.avg_price_ticks * inst.tick_size:.{inst.price_decimals}f}"
            cells = ((r.instrument, None), (f"{r.qty:+d}" if r.qty else "flat", None), (avg, None),
                     (usd(r.unrealized_cents), r.unrealized_cents),
                     (usd(r.realized_today_cents), r.realized_today_cents), (str(r.working_orders), None),
                     ("off" if r.max_position is None else str(r.max_position), None))
            for j, (text, cents) in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                align = QtCore.Qt.AlignmentFlag
                item.setTextAlignment(align.AlignVCenter | (align.AlignLeft if j == 0 else align.AlignRight))
                if j == 0:
                    bold = item.font()
                    bold.setBold(True)
                    item.setFont(bold)
                if cents is not None:
                    item.setForeground(QtGui.QColor(theme.ask if cents >= 0 else theme.bid))
                self.setItem(i, j, item)
        self.resizeColumnsToContents()
        self._fit()

    def _fit(self) -> None:
        """Exactly the height of the header and every row, and the width of every column."""
        frame = 2 * self.frameWidth()
        rows = sum(self.rowHeight(i) for i in range(self.rowCount()))
        self.setFixedHeight(self.horizontalHeader().sizeHint().height() + rows + frame)
        self.setMinimumWidth(self.horizontalHeader().length() + frame)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802 - Qt API
        return QtCore.QSize(self.minimumWidth(), self.height())


def _user_name() -> str:
    try:
        return getpass.getuser() or "trader"
    except (OSError, KeyError):
        return "trader"
