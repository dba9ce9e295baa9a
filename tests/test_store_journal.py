"""Journal: every record lands in SQLite before it is acted on, and a crash never loses a fill."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import msgspec

from tapeflow.core.events import Side
from tapeflow.signals.model import Action, Signal
from tapeflow.store import Journal
from tapeflow.trading import (
    Account,
    AutoTrader,
    Bracket,
    Fill,
    Ledger,
    OrderRequest,
    RiskSettings,
    TradingSettings,
)
from tapeflow.trading.testing import MS, et, trades

T = et(date(2024, 7, 2), "10:00")


def test_a_bracket_trade_is_journaled_table_by_table(tmp_path: Path):
    j = Journal(tmp_path / "journal.db")
    acct = Account(TradingSettings(risk=RiskSettings(max_order_qty=5)), journal=j)
    acct.on_events(trades(T, [(4000, 1, 1)]))
    sig = Signal(
        ts_ns=T,
        instrument="ES",
        kind="absorption",
        side=Side.BUY,
        price=4000,
        strength=2.0,
        bar_start_ns=T,
        rule="absorb",
        action=Action.ENTER_LONG,
        inputs={"ratio": 2.5},
        qty=2,
        stop_ticks=8,
        target_ticks=4,
    )
    assert AutoTrader(acct).on_signal(sig).acted
    acct.on_events(trades(T + MS, [(4005, 1, 1)]))  # the target fills, the stop is cancelled
    acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=9))  # refused: too big
    counts = {
        t: len(j.rows(t)) for t in ("signals", "orders", "fills", "round_trips", "risk_events", "sessions")
    }
    assert counts == {
        "signals": 1,
        "orders": 4,
        "fills": 2,
        "round_trips": 1,
        "risk_events": 1,
        "sessions": 1,
    }
    assert j.rows("signals")[0]["inputs"] == '{"ratio": 2.5}'
    (rt,) = j.round_trips_on(date(2024, 7, 2))
    assert rt["gross_cents"] == 4 * 2 * 1250
    kinds = [r["kind"] for r in j.rows("order_events", "order_id = ?", (1,))]
    assert kinds == ["submitted", "accepted", "filled"]
    assert j.rows("risk_events")[0]["rule"] == "max_order_qty"
    assert j.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_kill_switch_pulls_are_journaled(tmp_path: Path):
    j = Journal(tmp_path / "journal.db")
    acct = Account(journal=j)
    acct.on_events(trades(T, [(4000, 1, 1)]))
    acct.kill(by="trader", reason="hotkey")
    acct.rearm(by="trader")
    rows = j.rows("kill_switch_events")
    assert [(r["action"], r["by"]) for r in rows] == [("trigger", "trader"), ("rearm", "trader")]


def test_export_csv(tmp_path: Path):
    j = Journal(tmp_path / "journal.db")
    acct = Account(journal=j)
    acct.on_events(trades(T, [(4000, 1, 1)]))
    acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=1, bracket=Bracket(4, 4)))
    n = j.export_csv("fills", tmp_path / "fills.csv")
    text = (tmp_path / "fills.csv").read_text().splitlines()
    assert n == 1 and text[0].startswith("seq,id,order_id") and len(text) == 2


CRASHER = textwrap.dedent(
    """
    import os, sys
    from tapeflow.core.events import Side
    from tapeflow.store import Journal
    from tapeflow.trading import Account, EventKind, OrderRequest
    from tapeflow.trading.testing import trades
    t0 = int(sys.argv[2])
    acct = Account(journal=Journal(sys.argv[1]))
    def die_after_second_fill(event):
        if event.fill is not None and event.fill.id == 2:
            os._exit(17)  # no cleanup, no close, no commit of anything pending
    acct.subscribe(die_after_second_fill)
    acct.on_events(trades(t0, [(4000, 1, 1)]))
    acct.submit(OrderRequest(instrument="ES", side=Side.BUY, qty=3))
    acct.on_events(trades(t0 + 1000, [(4003, 1, 1)]))
    acct.submit(OrderRequest(instrument="ES", side=Side.SELL, qty=1))
    print("unreachable")
    """
)


def test_a_fill_survives_a_crash_right_after_it(tmp_path: Path):
    db = tmp_path / "journal.db"
    script = tmp_path / "crash.py"
    script.write_text(CRASHER)
    env = {**os.environ}
    proc = subprocess.run(
        [sys.executable, str(script), str(db), str(T)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 17, proc.stderr
    j = Journal(db)  # the restart
    rows = j.fills()
    assert [(r["side"], r["qty"], r["price"]) for r in rows] == [(1, 3, 4000), (-1, 1, 4003)]
    ledger = Ledger.replay(msgspec.convert(r, Fill) for r in rows)
    assert ledger.positions["ES"].qty == 2
    assert ledger.realized_cents == 3 * 1250
