"""The risk panel lists each instrument of the account above the account totals (issue 18)."""

from __future__ import annotations

from datetime import date

from PySide6 import QtWidgets

from tapeflow.core.events import Side
from tapeflow.core.instruments import instrument
from tapeflow.trading import Account, OrderRequest, PaperSettings, RiskSettings, TradingSettings
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.testing import MS, et, trades
from tapeflow.ui.risk_pane import RiskPane
from tapeflow.ui.theme import DARK

T0 = et(date(2024, 7, 2), "10:00")


DEFAULT_RISK_DOCK = (320, 340)  # MainWindow._default_sizes: the right column's width, the risk dock's height


def _account(orders: tuple[tuple[str, Side, int], ...]) -> Account:
    """A paper account holding ``orders`` (market, filled against ES 5500.00 and NQ 20000.00),
    then ES trades one point higher."""
    acct = Account(TradingSettings(risk=RiskSettings(max_exposure_tenths=30)),
                   broker=PaperBroker(PaperSettings(), {1: "ES", 2: "NQ"}))
    acct.on_events(trades(T0, [(22000, 1, 1)], instrument_id=1))
    acct.on_events(trades(T0 + MS, [(80000, 1, 1)], instrument_id=2))
    for root, side, qty in orders:
        assert acct.submit(OrderRequest(instrument=root, side=side, qty=qty)).ok
    acct.on_events(trades(T0 + 2 * MS, [(22004, 1, 1)], instrument_id=1))
    return acct


def _rows(pane: RiskPane) -> dict[str, list[str]]:
    t = pane.positions
    return {t.item(i, 0).text(): [t.item(i, j).text() for j in range(1, 4)] for i in range(t.rowCount())}


def test_each_instrument_has_a_row_and_exposure_is_an_account_total(qtbot):
    acct = _account((("ES", Side.BUY, 1), ("MES", Side.BUY, 6), ("NQ", Side.SELL, 1)))
    pane = RiskPane(instrument("ES"), DARK, acct, user="tester")
    qtbot.addWidget(pane)
    pane.refresh()
    # ES +1 @ 5500.00 open $50.00; MES +6 open $30.00 (6 x 4 ticks x $1.25); NQ -1 @ 20000.00 flat P&L
    assert _rows(pane) == {"ES": ["+1", "5500.00", "$50.00"], "MES": ["+6", "5500.00", "$30.00"],
                           "NQ": ["-1", "20000.00", "$0.00"]}
    assert "2.6 ES-equivalent" in pane.figures.text()
    assert pane.gauges["max_exposure"].format() == "max exposure: 2.6 of 3 ES-equivalent"


def test_a_flat_account_says_flat_instead_of_an_empty_table(qtbot):
    pane = RiskPane(instrument("ES"), DARK, _account(()), user="tester")
    qtbot.addWidget(pane)
    pane.resize(*DEFAULT_RISK_DOCK)
    pane.show()
    pane.refresh()
    assert pane.flat_label.isVisible() and not pane.positions.isVisible()


def test_every_instrument_row_is_readable_in_a_pane_of_the_default_dock_size(qtbot):
    pane = RiskPane(instrument("ES"), DARK, _account((("ES", Side.BUY, 1), ("NQ", Side.SELL, 1))), user="tester")
    qtbot.addWidget(pane)
    pane.resize(*DEFAULT_RISK_DOCK)
    pane.show()
    qtbot.waitExposed(pane)
    pane.refresh()
    QtWidgets.QApplication.processEvents()
    table = pane.positions
    assert table.rowCount() == 2
    view = table.viewport().rect()
    for row in range(table.rowCount()):
        for col in range(table.columnCount()):  # every cell whole: no row squeezed, no column cut off
            rect = table.visualRect(table.model().index(row, col))
            assert rect.height() > 0 and rect.width() > 0, (row, col)
            assert view.contains(rect), (row, col, rect, view)
    # the table is never squeezed: a short dock scrolls the panel instead
    assert table.height() == table.sizeHint().height() and table.width() >= table.minimumWidth()
    assert pane.scroll.verticalScrollBar().maximum() > 0
    assert pane.figures.geometry().top() >= table.geometry().bottom()
