"""The ProjectX adapter against a local fake venue speaking the real REST paths and SignalR hub.

The adapter, the account and the journal are the real ones; only the venue is fake (tests/fake_projectx.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fake_projectx import FakeProjectX
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tapeflow
from tapeflow.core.events import Side
from tapeflow.errors import TapeflowError
from tapeflow.store.journal import Journal
from tapeflow.trading import Account, Bracket, OrderRequest, OrderStatus, OrderType, Source
from tapeflow.trading.live.projectx.broker import ProjectXBroker
from tapeflow.trading.live.projectx.connect import connect_projectx, credentials
from tapeflow.trading.live.session import StartReport, journal_seed, kill_live, start_live

ES = "ES"


VENUES: list[FakeProjectX] = []  # the venue of the running test (settle waits for its pushes)


async def settle(broker: ProjectXBroker, rounds: int = 5) -> None:
    """Let commands finish and hub frames arrive: the venue's pushes are on the wire, then the
    reader gets a few loop turns (loopback delivery is immediate; the turns are for the reader)."""
    for _ in range(rounds):
        await broker.idle()
        if VENUES:
            await VENUES[-1].flushed()
        for _ in range(3):
            await asyncio.sleep(0.01)


starts: list[StartReport] = []  # what each on_venue start reported, newest last


def on_venue(test: Callable[[FakeProjectX, Account, ProjectXBroker], Awaitable[None]], journal: Any = None,
             fake: FakeProjectX | None = None) -> None:
    async def main() -> None:
        venue = fake or FakeProjectX()
        VENUES.append(venue)
        url = await venue.start()
        hub = url + "/hubs/user"  # http://, as the gateway documents its hubs (dialled as ws://)
        seen, since = journal_seed(journal, time.time_ns()) if journal is not None else (set(), 0)
        broker = await connect_projectx("trader", "key-123", api_url=url, hub_url=hub,
                                        timeout_s=0.3, poll_s=0.05, seen_fills=seen, since_ns=since)
        acct = Account(broker=broker, journal=journal, name="projectx")
        starts.append(await start_live(acct, broker, journal))
        try:
            await test(venue, acct, broker)
        finally:
            await broker.stop()
            await venue.stop()
    asyncio.run(main())


def buy(qty: int = 1, **kw: Any) -> OrderRequest:
    return OrderRequest(instrument=ES, side=Side.BUY, qty=qty, **kw)


def test_an_order_goes_out_once_with_our_client_id_as_the_tag_and_fills_from_the_venue_trade():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        res = acct.submit(buy(2, type=OrderType.LIMIT, limit_price=20000))  # 5000.00
        assert acct.orders[res.order_id].status == OrderStatus.SUBMITTED
        await settle(broker)
        (sent,) = venue.place_requests
        o = acct.orders[res.order_id]
        assert sent["customTag"] == o.client_id and sent["type"] == 1 and sent["side"] == 0
        assert Decimal(str(sent["limitPrice"])) == Decimal("5000.00") and sent["size"] == 2
        assert o.status == OrderStatus.ACCEPTED and o.venue_id == str(max(venue.orders))
        venue.fill(int(o.venue_id), 2, 5000.00)
        await settle(broker)
        o = acct.orders[res.order_id]
        assert (o.status, o.filled_qty, o.fill_value_ticks) == (OrderStatus.FILLED, 2, 40000)
        assert acct.ledger.positions[ES].qty == 2
    on_venue(t)


def test_a_reject_carries_the_venue_text():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        venue.next_place.append(("reject", "Maximum position exceeded"))
        oid = acct.submit(buy()).order_id
        await settle(broker)
        assert acct.orders[oid].status == OrderStatus.REJECTED
        assert acct.orders[oid].reason == "Maximum position exceeded"
    on_venue(t)


def test_partial_fill_then_cancel_keeps_the_fill_and_ends_cancelled():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        oid = acct.submit(buy(3, type=OrderType.LIMIT, limit_price=20000)).order_id
        await settle(broker)
        venue.fill(int(acct.orders[oid].venue_id), 1, 5000.00)
        await settle(broker)
        acct.cancel(oid)
        assert acct.orders[oid].status == OrderStatus.PENDING_CANCEL  # not cancelled until the venue says so
        await settle(broker)
        o = acct.orders[oid]
        assert (o.status, o.filled_qty) == (OrderStatus.CANCELLED, 1)
        assert acct.ledger.positions[ES].qty == 1
    on_venue(t)


def test_bracket_entry_then_target_filled_the_venue_cancels_the_stop_and_we_are_flat():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        oid = acct.submit(buy(1, bracket=Bracket(stop_ticks=8, target_ticks=16))).order_id
        await settle(broker)
        sent = venue.place_requests[0]
        assert sent["stopLossBracket"] == {"ticks": 8, "type": 4}
        assert sent["takeProfitBracket"] == {"ticks": 16, "type": 1}
        venue.fill(int(acct.orders[oid].venue_id), 1, 5000.00)
        await settle(broker)
        legs = {o.request.type: o for o in acct.open_orders()}
        assert set(legs) == {OrderType.STOP, OrderType.LIMIT}  # the venue's legs, adopted
        assert legs[OrderType.STOP].stop_price == 20000 - 8 and legs[OrderType.LIMIT].limit_price == 20000 + 16
        assert all(o.request.source == Source.BRACKET for o in legs.values())
        assert len(venue.place_requests) == 1  # no local OCO legs were sent
        venue.fill(int(legs[OrderType.LIMIT].venue_id), 1, 5004.00)
        await settle(broker)
        assert acct.open_orders() == []
        assert acct.orders[legs[OrderType.STOP].id].status == OrderStatus.CANCELLED
        assert acct.ledger.is_flat
        (rt,) = acct.ledger.round_trips
        assert rt.gross_cents == 16 * 1250
    on_venue(t)


def test_modify_racing_a_fill_books_the_fill_and_the_order_completes():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        oid = acct.submit(buy(2, type=OrderType.LIMIT, limit_price=20000)).order_id
        await settle(broker)
        vid = int(acct.orders[oid].venue_id)
        venue.fill(vid, 2, 5000.00)  # fills at the venue while our modify is on its way
        acct.modify(oid, limit_price=19996)
        assert acct.orders[oid].status in (OrderStatus.PENDING_UPDATE, OrderStatus.FILLED)
        await settle(broker)
        o = acct.orders[oid]
        assert (o.status, o.filled_qty) == (OrderStatus.FILLED, 2)
        assert acct.ledger.positions[ES].qty == 2
        assert len(venue.place_requests) == 1
    on_venue(t)


def test_no_answer_to_a_place_is_resolved_by_its_tag_and_never_resent():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        venue.next_place.append(("hang", 1.0))  # the venue takes it but answers after our 0.3 s timeout
        oid = acct.submit(buy()).order_id
        await settle(broker, 20)
        o = acct.orders[oid]
        assert len(venue.place_requests) == 1
        assert o.status == OrderStatus.ACCEPTED and o.venue_id == str(max(venue.orders))
        assert broker.unknown == set()
    on_venue(t)


def test_a_place_lost_on_the_way_stays_submitted_until_cancelled_and_is_never_resent():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        venue.next_place.append(("lose", None))
        oid = acct.submit(buy()).order_id
        await settle(broker, 30)
        o = acct.orders[oid]
        assert o.status == OrderStatus.SUBMITTED and "not resent" in o.reason and venue.orders == {}
        assert broker.unknown == {oid}
        acct.cancel(oid)
        await settle(broker)
        assert acct.orders[oid].status == OrderStatus.CANCELLED
        assert acct.open_orders() == [] and len(venue.place_requests) == 1
    on_venue(t)


def test_disconnect_after_submit_before_the_ack_then_reconnect_reconciles_to_exactly_one_order():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        venue.next_place.append(("drop", None))
        states: list[str] = []
        reports: list[Any] = []
        broker.status_listener, broker.report_listener = states.append, reports.append
        runner = asyncio.create_task(broker.run(retry_s=0.05))
        oid = acct.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await settle(broker, 20)
        vid = max(venue.orders)
        venue.fill(vid, 1, 5000.00)
        await settle(broker, 10)
        runner.cancel()
        assert len(venue.place_requests) == 1
        o = acct.orders[oid]
        assert (o.venue_id, o.status, o.filled_qty) == (str(vid), OrderStatus.FILLED, 1)
        assert acct.ledger.positions[ES].qty == 1
        assert states[:3] == ["disconnected", "reconciling", "connected"] and len(reports) >= 1
    on_venue(t)


def test_a_fill_while_disconnected_is_booked_once_by_the_reconnect():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        oid = acct.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await settle(broker)
        await venue.drop_hubs()
        venue.fill(int(acct.orders[oid].venue_id), 1, 5000.00)  # nobody hears it
        report = await broker.start()  # the reconnect
        await settle(broker)
        assert report.fills_booked == 1 and report.venue_positions == {ES: 1}
        assert report.unprotected == (ES,)  # a position and no stop: shown loudly
        assert acct.orders[oid].status == OrderStatus.FILLED and acct.ledger.positions[ES].qty == 1
        again = await broker.reconcile()
        assert again.fills_booked == 0 and acct.ledger.positions[ES].qty == 1
        broker.reconciling = True  # as during the next reconnect: entries wait, an exit goes
        assert not acct.submit(buy()).ok
        assert acct.submit(OrderRequest(instrument=ES, side=Side.SELL, qty=1, reduce_only=True)).ok
        await settle(broker)
        assert len(venue.place_requests) == 2 and venue.place_requests[-1]["side"] == 1
    on_venue(t)


def test_external_orders_are_shown_and_entries_wait_for_reconciliation():
    fake = FakeProjectX()
    fake.add_external(side=1, size=2, limit=5010.0)
    mine = fake.add_external(side=1, size=1, limit=5020.0, tag="tf0ld0ne-7")  # ours, from before a restart

    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        report = broker.last_report
        assert report is not None and len(report.external_orders) == 1
        (ext,) = [acct.orders[i] for i in report.external_orders]
        assert (ext.side, ext.qty, ext.limit_price) == (Side.SELL, 2, 20040)
        assert acct.snapshot().working_orders == 2  # both count against the limits
        (ours,) = [o for o in acct.open_orders() if o.venue_id == str(mine)]
        assert ours.id not in report.external_orders and ours.reason == "placed by Tapeflow before a restart"
        acct.cancel(ours.id)
        await settle(broker)
        assert acct.orders[ours.id].status == OrderStatus.CANCELLED
        broker.reconciling = True
        res = acct.submit(buy())
        assert not res.ok and res.rule == "broker" and "reconciling" in res.reason
        assert acct.orders[res.order_id].status == OrderStatus.REJECTED
        assert len(venue.place_requests) == 0
    on_venue(t, fake=fake)


def test_kill_switch_at_the_venue_cancels_working_orders_closes_the_position_and_confirms_flat():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        a = acct.submit(buy(1)).order_id
        await settle(broker)
        venue.fill(int(acct.orders[a].venue_id), 1, 5000.00)
        for px in (19990, 19980):
            acct.submit(buy(1, type=OrderType.LIMIT, limit_price=px))
        await settle(broker)
        assert len(acct.open_orders()) == 2 and venue.position == 1
        report = await kill_live(acct, broker, by="trader", reason="hotkey")
        await settle(broker)
        assert report.flat_confirmed and report.text == "flat confirmed by broker"
        assert venue.position == 0 and acct.open_orders() == []
        assert acct.ledger.is_flat and acct.kill_switch.latched
        assert venue.requests.count("/api/Position/closeContract") == 1
        assert len(venue.place_requests) == 3  # the account's own closing order was not sent as well
    on_venue(t)


def test_a_kill_from_any_source_goes_through_the_venue_and_reports_flat_confirmed_by_broker():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        states: list[str] = []
        broker.status_listener = states.append
        a = acct.submit(buy(1)).order_id
        await settle(broker)
        venue.fill(int(acct.orders[a].venue_id), 1, 5000.00)
        await settle(broker)
        acct.kill(by="webhook", reason="kill alert")  # what the webhook's kill action and the hotkey call
        report = await broker.kill_result()
        await settle(broker)
        assert report.flat_confirmed and states[-1] == "kill switch: flat confirmed by broker"
        assert venue.position == 0 and acct.ledger.is_flat and len(venue.place_requests) == 1
    on_venue(t)


def test_the_kill_switch_keeps_trying_while_the_venue_does_not_answer():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        a = acct.submit(buy(2)).order_id
        await settle(broker)
        venue.fill(int(acct.orders[a].venue_id), 2, 5000.00)
        await settle(broker)
        venue.unavailable = 4  # the next four requests get 503
        report = await kill_live(acct, broker, by="trader")
        await settle(broker)
        assert report.flat_confirmed and venue.position == 0 and acct.ledger.is_flat
    on_venue(t)


def test_restart_after_a_crash_books_nothing_twice(tmp_path):
    path = tmp_path / "journal.sqlite"
    fake = FakeProjectX()
    ids: dict[str, Any] = {}

    async def before(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        oid = acct.submit(buy(1)).order_id
        await settle(broker)
        venue.fill(int(acct.orders[oid].venue_id), 1, 5000.00)
        await settle(broker)
        ids["fills"] = len(Journal(path).rows("fills"))  # then the process dies (no shutdown)

    on_venue(before, journal=Journal(path), fake=fake)
    fake.fill(fake.add_external(0, 1, 5001.0), 1, 5001.0)  # a fill made elsewhere while we were down

    async def after(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        start = starts[-1]
        assert start.restore is not None and start.restore.positions == {ES: 1}  # from the journal
        assert start.reconcile.fills_booked == 1  # only the one made while we were down
        assert start.reconcile.venue_positions == {ES: 2} and acct.ledger.positions[ES].qty == 2
        assert start.mismatched == {}
        assert start.reconcile.unprotected == (ES,)

    journal = Journal(path)
    on_venue(after, journal=journal, fake=fake)
    assert ids["fills"] == 1 and len(journal.rows("fills")) == 2
    assert len({r["venue_fill_id"] for r in journal.rows("fills")}) == 2


def test_credentials_come_from_the_environment_and_name_what_is_missing():
    assert credentials({"PROJECTX_USERNAME": "u", "PROJECTX_API_KEY": "k"}) == ("u", "k")
    with pytest.raises(TapeflowError, match="PROJECTX_API_KEY"):
        credentials({})


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["ack", "ack", "reject", "hang", "drop"]), st.booleans(), st.booleans()),
                min_size=1, max_size=4))
def test_whatever_the_venue_does_each_order_is_sent_once_and_the_position_is_the_sum_of_venue_trades(script):
    """Random place outcomes (ack, reject, no answer, dropped connection), fills and hub drops."""
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        runner = asyncio.create_task(broker.run(retry_s=0.05))
        sent = 0
        for outcome, fill_it, drop_after in script:
            venue.next_place.append((outcome, 0.5 if outcome == "hang" else "no margin"))
            while not broker.connected or broker.reconciling:
                await asyncio.sleep(0.02)
            acct.submit(buy(1, type=OrderType.LIMIT, limit_price=20000))
            sent += 1
            await settle(broker, 8)
            live = [o for o in venue.orders.values() if o["status"] == 1]
            if fill_it and live:
                venue.fill(live[-1]["id"], 1, 5000.0)
            if drop_after:
                await venue.drop_hubs()
            await settle(broker, 4)
        while not broker.connected or broker.reconciling:
            await asyncio.sleep(0.02)
        await broker.reconcile()
        await settle(broker, 4)
        runner.cancel()
        assert len(venue.place_requests) == sent
        booked = [r for r in acct.ledger.positions.values()]
        assert sum(p.qty for p in booked) == venue.position == sum(tr["size"] for tr in venue.trades)
    on_venue(t)


def test_kill_9_with_a_live_position_then_restart_reconciles_without_booking_or_sending_twice(tmp_path):
    path = tmp_path / "journal.sqlite"
    fake = FakeProjectX()
    child = Path(__file__).with_name("live_child.py")

    async def crash() -> None:
        url = await fake.start()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(tapeflow.__file__).parents[1]),
                                                            os.environ.get("PYTHONPATH", "")])}
        proc = await asyncio.create_subprocess_exec(sys.executable, str(child), url, str(path),
                                                    stdout=asyncio.subprocess.PIPE, env=env)
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().split()
        assert line[0] == "ACCEPTED"
        fake.fill(int(line[1]), 1, 5000.00)
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip() == "FILLED"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await fake.drop_hubs()
        await fake._runner.cleanup()

    asyncio.run(crash())
    assert len(fake.place_requests) == 1 and fake.position == 1

    async def after(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        start = starts[-1]
        assert start.restore is not None and start.restore.positions == {ES: 1}
        assert start.reconcile.fills_booked == 0 and start.mismatched == {}
        assert acct.ledger.positions[ES].qty == 1

    journal = Journal(path)
    on_venue(after, journal=journal, fake=fake)
    assert len(fake.place_requests) == 1  # nothing was resent after the restart
    assert len(journal.rows("fills")) == 1


def test_the_daily_loss_limit_holds_against_the_venues_count_when_it_is_worse_than_ours():
    fake = FakeProjectX(pnl_bias=Decimal(-100))  # the prop firm books $100 more loss on the close

    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        acct.update_settings(replace(acct.settings, risk=replace(acct.settings.risk, daily_loss_limit_cents=10_000)))
        a = acct.submit(buy(1)).order_id
        await settle(broker)
        venue.fill(int(acct.orders[a].venue_id), 1, 5000.00)
        await settle(broker)
        s = acct.submit(OrderRequest(instrument=ES, side=Side.SELL, qty=1)).order_id
        await settle(broker)
        venue.fill(int(acct.orders[s].venue_id), 1, 4999.00)
        await settle(broker)
        # ours: -1 point = -$50 and 2 x $1.40 fees = -$52.80, inside the $100 limit;
        # the venue's: -$50 - $100 - $2.80 = -$152.80, beyond it
        assert acct.ledger.day_pnl_cents(acct.risk.trading_date) == -5280
        assert acct.risk.venue_realized_today_cents == -15280
        assert acct.risk.state_rule == "daily_loss"
        snap = acct.snapshot()
        assert (snap.realized_today_cents, snap.venue_realized_today_cents) == (-5280, -15280)
        (gauge,) = [g for g in snap.limits if g.rule == "daily_loss"]
        assert gauge.used == 15280
        assert not acct.submit(buy(1)).ok
    on_venue(t, fake=fake)


def test_an_unreadable_hub_message_is_reported_and_the_hub_keeps_delivering():
    async def t(venue: FakeProjectX, acct: Account, broker: ProjectXBroker) -> None:
        states: list[str] = []
        broker.status_listener = states.append
        venue._push("GatewayUserOrder", {"id": "not a number", "status": "?"})
        oid = acct.submit(buy(1, type=OrderType.LIMIT, limit_price=20000)).order_id
        await settle(broker)
        venue.fill(int(acct.orders[oid].venue_id), 1, 5000.0)
        await settle(broker)
        assert any(s.startswith("unreadable GatewayUserOrder message") for s in states)
        assert acct.orders[oid].status == OrderStatus.FILLED
    on_venue(t)


def test_login_and_account_choice_fail_with_a_clear_message_and_never_show_the_key():
    async def main() -> list[str]:
        venue = FakeProjectX()
        url = await venue.start()
        out = []
        for key, account in (("wrong-key-999", None), ("key-123", "NOPE")):
            with pytest.raises(TapeflowError) as e:
                await connect_projectx("trader", key, account=account, api_url=url, hub_url=url + "/hubs/user")
            out.append(str(e.value))
        await venue.stop()
        return out

    refused, unknown = asyncio.run(main())
    assert "login for 'trader' refused: bad key" in refused and "wrong-key-999" not in refused
    assert "pick one with --account: 50KTC" in unknown
