"""After a crash, a fresh account rebuilt from the journal matches the one that died."""

from __future__ import annotations

from datetime import date

from tapeflow.core.events import Side
from tapeflow.store.journal import Journal
from tapeflow.trading.account import Account
from tapeflow.trading.orders import OrderRequest, OrderType
from tapeflow.trading.testing import et, trades


def _market(side: Side, qty: int) -> OrderRequest:
    return OrderRequest(instrument="ES", side=side, qty=qty, type=OrderType.MARKET)


def test_restore_rebuilds_position_pnl_day_stats_and_ids(tmp_path):
    day = date(2024, 7, 2)
    journal = Journal(tmp_path / "journal.db")
    before = Account(journal=journal)
    before.on_events(trades(et(day, "10:00"), [(22000, 1, 1)]))
    assert before.submit(_market(Side.BUY, 2), ts_ns=et(day, "10:00", 1)).ok
    before.on_events(trades(et(day, "10:00", 2), [(22000, 1, 1)]))
    before.on_events(trades(et(day, "10:01"), [(21996, 1, -1)]))  # 4 ticks lower
    assert before.submit(_market(Side.SELL, 1), ts_ns=et(day, "10:01", 1)).ok  # a losing round trip
    before.on_events(trades(et(day, "10:01", 2), [(21996, 1, -1)]))
    working = before.submit(
        OrderRequest(instrument="ES", side=Side.SELL, qty=1, type=OrderType.LIMIT, limit_price=22010),
        ts_ns=et(day, "10:02"),
    )
    before.on_events(trades(et(day, "10:02", 1), [(21997, 1, 1)]))
    snap = before.snapshot()
    del before  # the process dies here

    after = Account(journal=Journal(tmp_path / "journal.db"))
    report = after.restore(after.journal)
    again = after.snapshot()
    assert report.positions == {"ES": 1} and report.fills == 2  # a round trip closes only when flat
    assert [(p.instrument, p.qty, p.avg_price_ticks) for p in again.positions] == [
        (p.instrument, p.qty, p.avg_price_ticks) for p in snap.positions
    ]
    assert again.realized_today_cents == snap.realized_today_cents < 0
    assert again.trades_today == snap.trades_today
    assert report.lost_orders == (working.order_id,)
    assert report.unprotected == ("ES",) and any("no working stop" in w for w in report.warnings)
    nxt = after.submit(_market(Side.SELL, 1), ts_ns=et(day, "10:03"))
    assert nxt.order_id > working.order_id  # ids never repeat across a restart


def test_the_terminal_journals_paper_trading_and_restores_only_for_live_feeds(tmp_path):
    from tapeflow.appdirs import ensure_first_run
    from tapeflow.ui.session import build_session, is_live_spec

    paths = ensure_first_run(tmp_path / "home")
    session = build_session("sim://rth?minutes=1&seed=3", paths, use_engine=False)
    assert session.account.journal is not None and paths.journal_file.exists()
    assert session.restore_notes == ()
    assert session.pipeline.entry_hold is None  # a replay has no feed health to hold entries on
    # the window opening another source keeps its locked journal and latch (a second lock would refuse)
    live = build_session("ws://127.0.0.1:9", paths, use_engine=False, files=session.files)  # connects on read
    assert live.pipeline.entry_hold == live.source.entry_hold
    assert is_live_spec("ws://127.0.0.1:8765") and not is_live_spec("sim://") and not is_live_spec("a.dbn")


def test_restore_keeps_the_trailing_drawdown_high_water_mark_of_the_day(tmp_path):
    """A winner then a loser, then a restart: the trailing drawdown is measured from the equity peak
    the journal shows (after the winner), not from the equity at restart; a restart gives no new room."""
    from tapeflow.trading.settings import RiskSettings, TradingSettings, TradingState

    day = date(2024, 7, 2)
    settings = TradingSettings(risk=RiskSettings(trailing_drawdown_cents=50_000))  # $500
    before = Account(settings, journal=Journal(tmp_path / "journal.db"))
    legs = [("10:00", 22000, Side.BUY), ("10:01", 22016, Side.SELL),  # +16 ticks x 2: +$400
            ("10:02", 22016, Side.BUY), ("10:03", 22004, Side.SELL)]  # -12 ticks x 2: -$300
    for at, px, side in legs:
        before.on_events(trades(et(day, at), [(px, 1, 1)]))
        assert before.submit(_market(side, 2), ts_ns=et(day, at, 1)).ok
        before.on_events(trades(et(day, at, 2), [(px, 1, 1)]))
    dd_before = before.risk.drawdown_cents()
    assert 30_000 <= dd_before < 50_000  # $300 plus commissions: still inside the limit

    after = Account(settings, journal=Journal(tmp_path / "journal.db"))
    after.restore(after.journal)
    assert after.risk.hwm_cents == before.risk.hwm_cents > settings.risk.starting_balance_cents
    assert after.risk.drawdown_cents() == dd_before
    assert after.risk.state == TradingState.ACTIVE
    # $250 more lost after the restart crosses the $500 trailing limit measured from that peak
    after.on_events(trades(et(day, "10:05"), [(22004, 1, 1)]))
    assert after.submit(_market(Side.BUY, 2), ts_ns=et(day, "10:05", 1)).ok
    after.on_events(trades(et(day, "10:05", 2), [(22004, 1, 1)]))
    after.on_events(trades(et(day, "10:06"), [(21994, 1, -1)]))
    assert after.risk.drawdown_cents() >= 50_000 and after.risk.state == TradingState.HALTED


def test_the_journal_records_the_settings_in_force_at_start_and_after_an_edit(tmp_path):
    """A forward test's fills are read against the limits and rules that were in force."""
    import dataclasses
    import hashlib
    import json

    from tapeflow.appdirs import ensure_first_run
    from tapeflow.ui.engine_hook import default_rules_file
    from tapeflow.ui.session import build_session

    paths = ensure_first_run(tmp_path / "home")
    session = build_session("sim://rth?minutes=1&seed=3", paths)
    (start,) = session.account.journal.rows("settings")
    rules_file = default_rules_file(paths.rules_file)
    assert (start["reason"], start["source"], start["rules_file"]) == ("start", "sim://rth?minutes=1&seed=3",
                                                                       str(rules_file))
    assert start["rules_sha256"] == hashlib.sha256(rules_file.read_bytes()).hexdigest()
    assert json.loads(start["rules"]) == [r.name for r in session.engine.rules]
    risk = json.loads(start["trading_risk"])
    assert risk["max_position"] == session.account.settings.risk.max_position
    edited = dataclasses.replace(session.account.settings,
                                 risk=dataclasses.replace(session.account.settings.risk, max_position=1))
    session.account.update_settings(edited)
    last = session.account.journal.rows("settings")[-1]
    assert last["reason"] == "edited" and json.loads(last["trading_risk"])["max_position"] == 1
