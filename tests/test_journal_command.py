"""``tapeflow journal`` reads what the account journaled: trades of the day, metrics, CSV export."""

from __future__ import annotations

import csv
from datetime import date

from tapeflow.cli import main
from tapeflow.core.events import Side
from tapeflow.store.journal import Journal
from tapeflow.trading.account import Account
from tapeflow.trading.orders import OrderRequest, OrderType
from tapeflow.trading.testing import et, trades

DAY = date(2024, 7, 2)


def _one_winning_trade(path) -> None:
    acct = Account(journal=Journal(path))
    acct.on_events(trades(et(DAY, "10:00"), [(22000, 1, 1)]))
    acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1, type=OrderType.MARKET), ts_ns=et(DAY, "10:00", 1))
    acct.on_events(trades(et(DAY, "10:00", 2), [(22000, 1, 1)]))
    acct.on_events(trades(et(DAY, "10:05"), [(22008, 1, 1)]))  # +8 ticks = $100 gross
    acct.submit(OrderRequest(instrument="ES", side=Side.SELL, qty=1, type=OrderType.MARKET), ts_ns=et(DAY, "10:05", 1))
    acct.on_events(trades(et(DAY, "10:05", 2), [(22008, 1, -1)]))


def test_journal_prints_the_days_round_trips_and_metrics(tmp_path, capsys):
    db = tmp_path / "journal.sqlite"
    _one_winning_trade(db)
    assert main(["journal", "--path", str(db)]) == 0
    out = capsys.readouterr().out
    assert "Round trips on 2024-07-02 (ES)" in out
    assert "trades 1, wins 1, losses 0" in out and "long" in out


def test_journal_export_writes_one_csv_per_table(tmp_path, capsys):
    db = tmp_path / "journal.sqlite"
    _one_winning_trade(db)
    assert main(["journal", "--path", str(db), "--export", str(tmp_path / "csv")]) == 0
    with open(tmp_path / "csv" / "fills.csv", newline="") as f:
        fills = list(csv.DictReader(f))
    assert [int(r["qty"]) for r in fills] == [1, 1]
    assert (tmp_path / "csv" / "round_trips.csv").exists()


def test_missing_journal_is_a_one_line_error(tmp_path, capsys):
    assert main(["journal", "--path", str(tmp_path / "none.sqlite")]) == 2
    assert "no journal yet" in capsys.readouterr().err
