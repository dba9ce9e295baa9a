"""The Rithmic broker against a local fake Rithmic system over real sockets (TLS websocket, Rithmic's
framing, async-rithmic's own messages): the real client, session, broker, account and journal.
Only the client's SSL context knows it is a test (tests/fake_rithmic)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
pytest.importorskip("trustme", reason="trustme (test extra) is not installed")

from fake_rithmic.server import make
from rithmic_venue import (
    ES,
    Run,
    Venue,
    buy,
    close_run,
    cut_orders_off,
    let_back_in,
    make_session,
    on_rithmic,
    open_run,
    sell,
    until,
)

import tapeflow
from tapeflow.core.events import Side
from tapeflow.store.journal import Journal
from tapeflow.trading import Bracket, OrderStatus, OrderType, Source
from tapeflow.trading.live.session import kill_live


def test_a_limit_order_goes_out_once_tagged_with_our_client_id_and_fills_from_the_exchange_report():
    async def t(r: Run) -> None:
        oid = r.account.submit(buy(2, type=OrderType.LIMIT, limit_price=20000)).order_id
        assert r.order(oid).status == OrderStatus.SUBMITTED
        await r.settle()
        (sent,) = r.venue.orders.submits()
        o = r.order(oid)
        assert sent.template_id == 312 and sent.user_tag == o.client_id and sent.symbol == "ESZ6"
        assert (sent.quantity, sent.price, sent.price_type, sent.transaction_type) == (2, 5000.0, 1, 1)
        assert sent.manual_or_auto == 1 and sent.trade_route == "simulator" and sent.account_id == "TF-001"
        assert o.status == OrderStatus.ACCEPTED and o.venue_id == sent_basket(r, o.client_id)
        await r.venue.orders.fill(o.venue_id, 2, 5000.0)
        await r.settle()
        o = r.order(oid)
        assert (o.status, o.filled_qty, o.fill_value_ticks) == (OrderStatus.FILLED, 2, 40000)
        assert r.account.ledger.positions[ES].qty == 2 and r.broker.venue_positions == {ES: 2}
    on_rithmic(t)


def sent_basket(r: Run, tag: str) -> str:
    return r.venue.orders.by_tag(tag).basket_id


def test_a_rule_order_carries_auto_and_a_click_carries_manual():
    async def t(r: Run) -> None:
        stop = Bracket(stop_ticks=8)  # automated entries must carry a stop
        for source in (Source.RULE, Source.WEBHOOK):
            assert r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=19990, source=source, bracket=stop)).ok
        r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=19992))  # a DOM click
        await r.settle()
        assert [(m.template_id, m.manual_or_auto) for m in r.venue.orders.submits()] == [(330, 2), (330, 2), (312, 1)]
    on_rithmic(t)


def test_stop_and_stop_limit_carry_their_trigger_and_limit_prices():
    async def t(r: Run) -> None:
        r.account.submit(sell(1, type=OrderType.STOP, stop_price=19980, reduce_only=False))
        r.account.submit(sell(1, type=OrderType.STOP_LIMIT, stop_price=19980, limit_price=19978))
        await r.settle()
        stop, stop_limit = r.venue.orders.submits()
        assert (stop.price_type, stop.trigger_price, stop.price, stop.transaction_type) == (4, 4995.0, 0.0, 2)
        assert (stop_limit.price_type, stop_limit.trigger_price, stop_limit.price) == (3, 4995.0, 4994.5)
        assert all(o.status == OrderStatus.ACCEPTED for o in r.account.open_orders())
    on_rithmic(t)


def test_bracket_goes_as_one_server_held_order_the_target_fills_and_the_venue_cancels_the_stop():
    async def t(r: Run) -> None:
        oid = r.account.submit(buy(1, bracket=Bracket(stop_ticks=8, target_ticks=16), source=Source.RULE)).order_id
        await r.settle()
        (sent,) = r.venue.orders.submits()
        assert sent.template_id == 330 and (sent.stop_ticks, sent.target_ticks) == (8, 16)
        assert (sent.stop_quantity, sent.target_quantity, sent.bracket_type) == (1, 1, 6)  # TARGET_AND_STOP_STATIC
        assert sent.manual_or_auto == 2
        await r.venue.orders.fill(r.basket(oid), 1, 5000.0)
        await r.settle()
        legs = {o.request.type: o for o in r.account.open_orders()}
        assert set(legs) == {OrderType.STOP, OrderType.LIMIT}  # the venue's legs, adopted, not sent by us
        assert legs[OrderType.STOP].stop_price == 20000 - 8 and legs[OrderType.LIMIT].limit_price == 20000 + 16
        assert all(o.request.source == Source.BRACKET and o.id not in r.broker.book.external for o in legs.values())
        assert len(r.venue.orders.submits()) == 1
        await r.venue.orders.fill(legs[OrderType.LIMIT].venue_id, 1, 5004.0)
        await r.settle()
        assert r.account.open_orders() == []
        assert r.order(legs[OrderType.STOP].id).status == OrderStatus.CANCELLED
        assert r.account.ledger.is_flat and r.broker.venue_positions == {ES: 0}
        (rt,) = r.account.ledger.round_trips
        assert rt.gross_cents == 16 * 1250
    on_rithmic(t)


def test_a_stop_leg_cancelled_by_the_venue_leaves_the_position_reported_unprotected():
    async def t(r: Run) -> None:
        oid = r.account.submit(buy(1, bracket=Bracket(stop_ticks=8))).order_id
        await r.settle()
        await r.venue.orders.fill(r.basket(oid), 1, 5000.0)
        await r.settle()
        (stop,) = r.account.open_orders()
        await r.venue.orders.venue_cancel(stop.venue_id)
        await r.settle()
        assert r.order(stop.id).status == OrderStatus.CANCELLED and r.order(stop.id).reason == "cancelled at the venue"
        report = await r.broker.reconcile()
        assert report.unprotected == (ES,) and "ES: position of 1 has NO working stop" in report.warnings
    on_rithmic(t)


def test_partial_fill_then_cancel_keeps_the_fill_and_ends_cancelled():
    async def t(r: Run) -> None:
        oid = r.account.submit(buy(3, type=OrderType.LIMIT, limit_price=20000)).order_id
        await r.settle()
        await r.venue.orders.fill(r.basket(oid), 1, 5000.0)
        await r.settle()
        assert (r.order(oid).status, r.order(oid).filled_qty) == (OrderStatus.PARTIALLY_FILLED, 1)
        r.account.cancel(oid)
        assert r.order(oid).status == OrderStatus.PENDING_CANCEL  # not cancelled until the venue says so
        await r.settle()
        assert (r.order(oid).status, r.order(oid).filled_qty) == (OrderStatus.CANCELLED, 1)
        assert r.account.ledger.positions[ES].qty == 1
        assert [m.basket_id for m in r.venue.server.requests(316)] == [r.basket(oid)]
    on_rithmic(t)


def test_a_refused_order_and_an_exchange_reject_both_carry_the_venues_text():
    async def t(r: Run) -> None:
        r.venue.orders.next_submit += [("reject", "Maximum position exceeded"), ("venue_reject", "Price out of band")]
        a = r.account.submit(buy(1)).order_id
        b = r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=1)).order_id
        await r.settle()
        assert (r.order(a).status, r.order(a).reason) == (OrderStatus.REJECTED, "Maximum position exceeded")
        assert (r.order(b).status, r.order(b).reason) == (OrderStatus.REJECTED, "Price out of band")
        assert r.order(b).venue_id  # the venue had named it before rejecting it
    on_rithmic(t)


def test_a_second_modify_waits_for_the_first_and_a_fill_racing_them_completes_the_order():
    async def t(r: Run) -> None:
        r.venue.orders.modify_delay_s = 0.1  # the exchange takes a while: a second change would be refused
        oid = r.account.submit(buy(2, type=OrderType.LIMIT, limit_price=20000)).order_id
        await r.settle()
        r.account.modify(oid, limit_price=19996)
        r.account.modify(oid, limit_price=19992)
        r.account.modify(oid, qty=1)  # merges with the waiting one: price 19992 and qty 1 in one command
        assert r.order(oid).status == OrderStatus.PENDING_UPDATE
        await r.settle(10)
        mods = r.venue.server.requests(314)
        assert [(m.price, m.quantity) for m in mods] == [(4999.0, 2), (4998.0, 1)]  # one at a time, none refused
        assert (r.order(oid).limit_price, r.order(oid).qty, r.order(oid).status) == (19992, 1, OrderStatus.ACCEPTED)
        r.account.modify(oid, qty=2)
        await r.venue.orders.fill(r.basket(oid), 1, 4998.0)  # fills while the modify is on its way
        await r.settle(10)
        o = r.order(oid)
        assert (o.status, o.filled_qty) == (OrderStatus.FILLED, 1) and r.account.ledger.positions[ES].qty == 1
        assert len(r.venue.orders.submits()) == 1
    on_rithmic(t)


def test_no_answer_to_a_submit_is_resolved_by_its_tag_and_never_resent():
    async def t(r: Run) -> None:
        r.venue.orders.next_submit.append(("hang", 2.0))  # taken, answered after our 1 s timeout
        oid = r.account.submit(buy()).order_id
        await until(lambda: bool(r.order(oid).venue_id), "found by its tag")
        await r.settle()
        assert len(r.venue.orders.submits()) == 1 and r.broker.unknown == set()
        o = r.order(oid)
        assert o.status == OrderStatus.ACCEPTED and o.venue_id == sent_basket(r, o.client_id)
    on_rithmic(t)


def test_a_submit_lost_on_the_way_stays_submitted_until_cancelled_and_is_never_resent():
    async def t(r: Run) -> None:
        r.broker.poll_s = 0.01
        r.venue.orders.next_submit.append(("lose", None))
        oid = r.account.submit(buy()).order_id
        await until(lambda: "not resent; cancel it" in r.order(oid).reason, "given up looking")
        assert r.order(oid).status == OrderStatus.SUBMITTED and r.broker.unknown == {oid}
        r.account.cancel(oid)
        await r.settle()
        assert r.order(oid).status == OrderStatus.CANCELLED and "never reached the venue" in r.order(oid).reason
        assert len(r.venue.orders.submits()) == 1
    on_rithmic(t)


def test_disconnect_after_submit_before_the_ack_reconnects_and_finds_exactly_one_order():
    async def t(r: Run) -> None:
        r.venue.orders.next_submit.append(("drop", None))  # the venue takes it, the connection dies
        oid = r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await until(lambda: bool(r.order(oid).venue_id), "found by its tag after the reconnect")
        await until(lambda: r.broker.connected and not r.broker.reconciling, "reconciled")
        await r.venue.orders.fill(r.basket(oid), 1, 5000.0)
        await r.settle()
        assert len(r.venue.orders.submits()) == 1
        assert (r.order(oid).status, r.order(oid).filled_qty) == (OrderStatus.FILLED, 1)
        assert r.account.ledger.positions[ES].qty == 1
        assert "disconnected" in r.states and r.states[-1] == "connected"
        assert r.session.logins["order"] == 2
    on_rithmic(t)


def test_a_fill_while_disconnected_is_replayed_at_the_reconnect_and_booked_once():
    async def t(r: Run) -> None:
        reports = []
        r.broker.report_listener = reports.append
        oid = r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await r.settle()
        await cut_orders_off(r)
        await r.venue.orders.fill(r.basket(oid), 1, 5000.0)  # nobody hears it
        assert not r.account.submit(buy()).ok  # entries halt while the order plant is down
        await let_back_in(r)
        (report,) = reports
        assert report.fills_booked == 1 and report.venue_positions == {ES: 1} and report.unprotected == (ES,)
        assert r.order(oid).status == OrderStatus.FILLED and r.account.ledger.positions[ES].qty == 1
        assert len(r.venue.server.requests(3506)) == 2  # replayed at start and at the reconnect
        again = await r.broker.reconcile()
        assert again.fills_booked == 0 and r.account.ledger.positions[ES].qty == 1
    on_rithmic(t)



def test_a_forced_logout_is_shown_as_such_halts_entries_and_the_user_reconnects_by_hand():
    async def t(r: Run) -> None:
        oid = r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await r.settle()
        intruder = make_session(r.venue.server)  # the same user logs in elsewhere: Rithmic keeps the newest
        await intruder.open({"order"})
        await until(lambda: not r.broker.connected, "the forced logout reached the broker")
        assert r.session.state.phase.value == "FORCED_OUT"
        assert r.states[-1].startswith("forced logout: another session logged in with this user")
        assert r.states[-1].count("reconnect by hand") == 1
        res = r.account.submit(buy(1))
        assert not res.ok and "order connection down" in res.reason
        await r.venue.orders.fill(r.basket(oid), 1, 5000.0)  # meanwhile at the exchange
        await asyncio.sleep(0.3)
        assert r.session.logins["order"] == 1  # no fight back: no automatic re-login
        await r.session.reconnect()  # the user's click
        await until(lambda: r.broker.connected and not r.broker.reconciling, "reconciled after the manual reconnect")
        assert r.order(oid).status == OrderStatus.FILLED and r.account.ledger.positions[ES].qty == 1
        await intruder.close()
    on_rithmic(t)


def test_kill_switch_cancels_all_exits_the_position_and_is_done_only_when_the_venue_says_flat():
    async def t(r: Run) -> None:
        a = r.account.submit(buy(1)).order_id
        await r.settle()
        await r.venue.orders.fill(r.basket(a), 1, 5000.0)
        for px in (19990, 19980):
            r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=px))
        await r.settle()
        assert len(r.account.open_orders()) == 2 and r.venue.orders.positions == {"ESZ6": 1}
        report = await kill_live(r.account, r.broker, by="trader", reason="hotkey")
        await r.settle()
        assert report.flat_confirmed and report.text == "flat confirmed by broker"
        assert r.states[-1] == "kill switch: flat confirmed by broker"
        assert r.venue.orders.positions == {"ESZ6": 0} and r.account.open_orders() == []
        assert r.account.ledger.is_flat and r.account.kill_switch.latched
        cancel_all = r.venue.server.requests(346)[0]  # every round cancels all again (a late order)
        (exit_,) = r.venue.server.requests(3504)  # one exit: the venue was asked before exiting again
        assert (exit_.symbol, exit_.exchange, exit_.manual_or_auto, cancel_all.manual_or_auto) == ("ESZ6", "CME", 2, 2)
        assert len(r.venue.orders.submits()) == 3  # the account's own closing order was not sent as well
    on_rithmic(t)


def test_the_venues_account_figures_stand_beside_ours_and_its_loss_counts_against_the_daily_limit():
    venue = Venue(pnl_bias=Decimal(-100))  # the firm books $100 more loss than the fills say

    async def t(r: Run) -> None:
        r.account.update_settings(replace(r.account.settings, risk=replace(r.account.settings.risk,
                                                                           daily_loss_limit_cents=10_000)))
        a = r.account.submit(buy(1)).order_id
        await r.settle()
        await r.venue.orders.fill(r.basket(a), 1, 5000.0)
        await r.settle()
        s = r.account.submit(sell(1)).order_id
        await r.settle()
        await r.venue.orders.fill(r.basket(s), 1, 4999.0)
        await r.settle()
        v = r.broker.venue_account
        assert v is not None and v.account_id == "TF-001"
        assert (v.day_closed_pnl_cents, v.balance_cents, v.net_quantity) == (-15000, 5_000_000 - 15000, 0)
        assert r.account.ledger.day_pnl_cents(r.account.risk.trading_date) == -5000  # ours: -1 point, no fees
        assert r.account.risk.venue_realized_today_cents == -15000
        assert r.account.risk.state_rule == "daily_loss" and not r.account.submit(buy(1)).ok
    on_rithmic(t, venue=venue)


def test_restart_books_nothing_twice_and_picks_up_what_filled_while_it_was_down(tmp_path):
    path = tmp_path / "journal.sqlite"

    async def main() -> None:
        venue = Venue()
        await venue.server.start()
        r = await open_run(venue, Journal(path))
        oid = r.account.submit(buy(1)).order_id
        await r.settle()
        await venue.orders.fill(r.basket(oid), 1, 5000.0)
        await r.settle()
        await close_run(r)  # then the process is gone
        other = venue.orders.add_external("ESZ6", 1, 1, 5001.0)
        venue.orders.orders[other.basket_id] = other
        await venue.orders.fill(other.basket_id, 1, 5001.0)  # filled elsewhere while we were down
        journal = Journal(path)
        r2 = await open_run(venue, journal)
        start = r2.start
        assert start.restore is not None and start.restore.positions == {ES: 1}  # from the journal
        assert start.reconcile.fills_booked == 1  # only the one made while we were down
        assert start.reconcile.venue_positions == {ES: 2} and r2.account.ledger.positions[ES].qty == 2
        assert start.mismatched == {} and start.reconcile.unprotected == (ES,)
        await close_run(r2)
        await venue.server.stop()
        rows = journal.rows("fills")
        assert len(rows) == 2 and len({row["venue_fill_id"] for row in rows}) == 2
        assert len(venue.orders.submits()) == 1

    asyncio.run(main())


def test_kill_9_with_a_live_position_then_restart_reconciles_without_booking_or_sending_twice(tmp_path):
    path = tmp_path / "journal.sqlite"
    ca = tmp_path / "ca.pem"
    child = Path(__file__).with_name("rithmic_child.py")

    async def main() -> None:
        venue = Venue()
        await venue.server.start()
        venue.server._ca.cert_pem.write_to_path(str(ca))  # the child trusts the test CA, as we do
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(tapeflow.__file__).parents[1]),
                                                            os.environ.get("PYTHONPATH", "")])}
        proc = await asyncio.create_subprocess_exec(sys.executable, str(child), venue.server.url, str(path), str(ca),
                                                    stdout=asyncio.subprocess.PIPE, env=env)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
        assert line[0] == "ACCEPTED"
        await venue.orders.fill(line[1], 1, 5000.0)
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip() == "FILLED"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        assert len(venue.orders.submits()) == 1 and venue.orders.positions == {"ESZ6": 1}

        journal = Journal(path)
        r = await open_run(venue, journal)
        try:
            assert r.start.restore is not None and r.start.restore.positions == {ES: 1}
            assert r.start.reconcile.fills_booked == 0 and r.start.mismatched == {}
            assert r.account.ledger.positions[ES].qty == 1
        finally:
            await close_run(r)
            await venue.server.stop()
        assert len(venue.orders.submits()) == 1  # nothing was resent after the restart
        assert len(journal.rows("fills")) == 1

    asyncio.run(main())


def test_the_account_snapshot_carries_the_venues_balance_for_the_risk_panel():
    async def t(r: Run) -> None:
        await until(lambda: r.broker.venue_account is not None, "the P&L plant's account figures")
        assert r.account.snapshot().venue_balance_cents == 5_000_000
    on_rithmic(t)


def test_a_cancel_and_a_modify_without_answer_are_not_resent_and_the_order_goes_back_to_working():
    async def t(r: Run) -> None:
        oid = r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await r.settle()
        r.venue.orders.mute = {314, 316}  # the venue never answers them (the library would send them 3 times)
        r.account.cancel(oid)
        await r.settle()
        o = r.order(oid)
        assert (o.status, o.reason) == (OrderStatus.ACCEPTED, "no answer to the cancel: not resent; the order still "
                                                              "works at the venue")
        r.account.modify(oid, limit_price=19996)
        await r.settle()
        assert (r.order(oid).status, r.order(oid).limit_price) == (OrderStatus.ACCEPTED, 20000)
        assert len(r.venue.server.requests(316)) == 1 and len(r.venue.server.requests(314)) == 1
        r.venue.orders.mute = set()
        r.account.cancel(oid)  # the user tries again
        await r.settle()
        assert r.order(oid).status == OrderStatus.CANCELLED
    on_rithmic(t)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["ack", "ack", "reject", "venue_reject", "hang", "drop"]), st.booleans(),
                          st.booleans()), min_size=1, max_size=4))
def test_whatever_the_venue_does_each_order_is_sent_once_and_the_position_is_the_venues(script):
    """Random submit outcomes (ack, refusal, exchange reject, late answer, dropped connection), fills
    and connection losses: one frame per order, and our position is the venue's."""
    async def t(r: Run) -> None:
        sent = 0
        for outcome, fill_it, drop_after in script:
            r.venue.orders.next_submit.append((outcome, 1.5 if outcome == "hang" else "no margin"))
            await until(lambda: r.broker.connected and not r.broker.reconciling, "online")
            r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=20000))
            sent += 1
            await r.settle(8)
            working = r.venue.orders.working()
            if fill_it and working:
                await r.venue.orders.fill(working[-1].basket_id, 1, 5000.0)
            if drop_after:
                for conn in r.venue.server.live(2):
                    await r.venue.server.drop(conn)
            await r.settle(4)
        await until(lambda: r.broker.connected and not r.broker.reconciling, "online at the end")
        await r.venue.orders.flushed()
        await r.broker.reconcile()
        await r.settle(4)
        assert len(r.venue.orders.submits()) == sent
        ours = r.account.ledger.positions.get(ES)
        assert (ours.qty if ours else 0) == r.venue.orders.positions.get("ESZ6", 0) == len(r.venue.orders.fills)
    on_rithmic(t)


def test_orders_placed_elsewhere_are_shown_as_external_and_ours_from_before_a_restart_as_ours():
    venue = Venue()
    venue.orders.add_external("ESZ6", 2, 2, 5010.0)  # another platform's sell limit
    mine = venue.orders.add_external("ESZ6", 2, 1, 5020.0, tag="tf0ld0ne-7")

    async def t(r: Run) -> None:
        report = r.start.reconcile
        (ext,) = [r.account.orders[i] for i in report.external_orders]
        assert (ext.side, ext.qty, ext.limit_price) == (Side.SELL, 2, 20040)
        assert "1 working order(s) placed outside Tapeflow" in report.warnings
        (ours,) = [o for o in r.account.open_orders() if o.venue_id == mine.basket_id]
        assert ours.id not in report.external_orders and ours.reason == "placed by Tapeflow before a restart"
        r.account.cancel(ours.id)
        await r.settle()
        assert r.order(ours.id).status == OrderStatus.CANCELLED and not mine.working
    on_rithmic(t, venue=venue)


def test_a_stopped_broker_on_a_shared_session_hears_nothing_more():
    async def t(r: Run) -> None:
        oid = r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await r.settle()
        await r.broker.stop()  # the session stays (a feed may use it)
        await r.venue.orders.fill(r.basket(oid), 1, 5000.0)
        await r.settle()
        assert r.order(oid).status == OrderStatus.ACCEPTED and r.session.is_up("order")
    on_rithmic(t)


def test_an_unreadable_notification_is_reported_and_the_plant_keeps_delivering():
    async def t(r: Run) -> None:
        oid = r.account.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await r.settle()
        bad = make(352, notify_type=5, basket_id=r.basket(oid), account_id="TF-001", symbol="ESZ6", fill_id="x",
                   fill_size=1, fill_price=float("nan"), transaction_type=1)
        await r.venue.server.push(2, bad)  # ORDER_PLANT
        await r.venue.orders.fill(r.basket(oid), 1, 5000.0)
        await r.settle()
        assert any(s.startswith("unreadable ExchangeOrderNotification message") for s in r.states)
        assert r.order(oid).status == OrderStatus.FILLED and r.account.ledger.positions[ES].qty == 1
    on_rithmic(t)
