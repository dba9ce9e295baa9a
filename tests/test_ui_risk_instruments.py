"""The risk panel lists each instrument of the account above the account totals (issue 18)."""

from __future__ import annotations

import re
from datetime import date

from tapeflow.core.events import Side
from tapeflow.core.instruments import instrument
from tapeflow.trading import Account, OrderRequest, PaperSettings, RiskSettings, TradingSettings
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.testing import MS, et, trades
from tapeflow.ui.risk_pane import RiskPane
from tapeflow.ui.theme import DARK

T0 = et(date(2024, 7, 2), "10:00")


def test_each_instrument_has_a_row_and_exposure_is_an_account_total(qtbot):
    acct = Account(TradingSettings(risk=RiskSettings(max_exposure_tenths=30)),
                   broker=PaperBroker(PaperSettings(), {1: "ES", 2: "NQ"}))
    acct.on_events(trades(T0, [(22000, 1, 1)], instrument_id=1))
    acct.on_events(trades(T0 + MS, [(80000, 1, 1)], instrument_id=2))
    for root, side, qty in (("ES", Side.BUY, 1), ("MES", Side.BUY, 6), ("NQ", Side.SELL, 1)):
        assert acct.submit(OrderRequest(instrument=root, side=side, qty=qty)).ok
    acct.on_events(trades(T0 + 2 * MS, [(22004, 1, 1)], instrument_id=1))
    pane = RiskPane(instrument("ES"), DARK, acct, user="tester")
    qtbot.addWidget(pane)
    pane.refresh()
    text = re.sub(r"<[^>]+>", " ", pane.positions.text())
    cells = [c for c in text.split() if c]
    # ES +1 @ 5500.00 open $50.00; MES +6 open $30.00 (6 x 4 ticks x $1.25); NQ -1 @ 20000.00 flat P&L
    assert cells[cells.index("ES"):cells.index("ES") + 4] == ["ES", "+1", "5500.00", "$50.00"]
    assert cells[cells.index("MES"):cells.index("MES") + 4] == ["MES", "+6", "5500.00", "$30.00"]
    assert cells[cells.index("NQ"):cells.index("NQ") + 4] == ["NQ", "-1", "20000.00", "$0.00"]
    assert "2.6 ES-equivalent" in pane.figures.text()
    assert pane.gauges["max_exposure"].format() == "max exposure: 2.6 of 3 ES-equivalent"
