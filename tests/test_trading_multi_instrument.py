"""Several instruments in one account (issue 18), hand-computed.

Prices in ticks of 0.25 (ES 5000.00 = 20000, NQ 20000.00 = 80000). Tick values: ES 1250 cents,
MES 125, NQ 500, MNQ 50. Exposure in tenths of an ES contract: ES and NQ 10, MES and MNQ 1.
The tape numbers ES 1, NQ 2 and (when a test opens one) MES 3.
"""

from __future__ import annotations

from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeflow.core.events import Side
from tapeflow.core.instruments import es_equivalent_tenths
from tapeflow.trading.account import Account
from tapeflow.trading.orders import Bracket, OrderRequest, OrderType
from tapeflow.trading.paper_broker import PaperBroker
from tapeflow.trading.settings import InstrumentLimits, PaperSettings, RiskSettings, TradingSettings, TradingState
from tapeflow.trading.testing import MS, et, levels, trades

BUY, SELL = Side.BUY, Side.SELL
BID, ASK = 1, -1
ES_ID, NQ_ID, MES_ID = 1, 2, 3
T0 = et(date(2024, 7, 2), "10:00")


def account(tapes: dict[int, str] | None = None, **risk: object) -> Account:
    """An account whose paper broker reads ES and NQ (or ``tapes``), both printed once."""
    tapes = tapes or {ES_ID: "ES", NQ_ID: "NQ"}
    acct = Account(TradingSettings(risk=RiskSettings(**risk)),  # type: ignore[arg-type]
                   broker=PaperBroker(PaperSettings(), tapes))
    if ES_ID in tapes:
        print_at(acct, ES_ID, 20000)
    if NQ_ID in tapes:
        print_at(acct, NQ_ID, 80000)
    return acct


def print_at(acct: Account, iid: int, price: int, size: int = 1, side: int = 1) -> None:
    acct.on_events(trades(max(acct.clock_ns, T0) + MS, [(price, size, side)], instrument_id=iid))


def order(root: str, side: Side, qty: int = 1, **kw: object) -> OrderRequest:
    return OrderRequest(instrument=root, side=side, qty=qty, **kw)  # type: ignore[arg-type]


def qty(acct: Account, root: str) -> int:
    return acct.ledger.positions[root].qty if root in acct.ledger.positions else 0


# -- account-wide ES-equivalent exposure -------------------------------------------------------


def test_es_and_mes_positions_count_together_against_the_es_equivalent_limit():
    acct = account(max_exposure_tenths=20)  # 2 ES-equivalent contracts
    assert acct.submit(order("ES", BUY)).ok  # 10 tenths
    assert acct.submit(order("MES", BUY, 10)).ok  # + 10 x 1 = 20 tenths: at the limit
    assert (qty(acct, "ES"), qty(acct, "MES")) == (1, 10)
    res = acct.submit(order("MES", BUY))
    assert (res.ok, res.rule) == (False, "max_exposure")
    assert "2.1 ES-equivalent" in res.reason and "limit 2 " in res.reason
    res = acct.submit(order("NQ", SELL))  # an NQ counts as one ES, short or long
    assert (res.ok, res.rule) == (False, "max_exposure")
    assert "exposure could reach 3 " in res.reason
    assert acct.submit(order("MES", SELL, 5)).ok  # reducing is never blocked: now 15 tenths
    assert acct.submit(order("MES", BUY, 5, type=OrderType.LIMIT, limit_price=19990)).ok  # could reach 20
    res = acct.submit(order("MNQ", BUY))  # the working MES entry counts: 21 tenths
    assert (res.ok, res.rule) == (False, "max_exposure")
    assert acct.snapshot().exposure_tenths == 15  # what is open; the gauge shows what could be
    gauge = {g.rule: g for g in acct.snapshot().limits}["max_exposure"]
    assert (gauge.used, gauge.limit, gauge.unit) == (20, 20, "es_tenths")


def test_a_short_and_a_long_of_two_products_both_add_to_exposure():
    assert es_equivalent_tenths("ES", -2) + es_equivalent_tenths("MNQ", 3) == 23
    acct = account(max_exposure_tenths=15)
    assert acct.submit(order("ES", SELL)).ok
    assert acct.submit(order("MNQ", BUY, 5)).ok  # 10 + 5 = 15
    assert not acct.submit(order("MNQ", BUY)).ok


# -- per-instrument limits over account-wide defaults -------------------------------------------


def test_an_instrument_override_replaces_the_default_max_position_for_that_instrument_only():
    acct = account(max_position=2, instruments={"MES": InstrumentLimits(max_position=10)})
    assert acct.submit(order("MES", BUY, 10)).ok
    res = acct.submit(order("ES", BUY, 3))
    assert (res.ok, res.rule) == (False, "max_position")
    assert "ES position could reach 3" in res.reason and "max position 2" in res.reason
    assert acct.submit(order("NQ", BUY, 2)).ok  # NQ has no override: the default 2
    rows = {r.instrument: r for r in acct.snapshot().instruments}
    assert (rows["MES"].max_position, rows["NQ"].max_position) == (10, 2)


def test_an_override_of_zero_turns_the_limit_off_for_that_instrument():
    s = RiskSettings(max_position=2, instruments={"MES": InstrumentLimits(max_position=0)})
    assert s.limits_for("MES").max_position is None
    assert s.limits_for("ES").max_position == 2


def test_the_per_trade_stop_limit_is_in_the_instruments_own_ticks():
    acct = account(max_stop_ticks=16, instruments={"NQ": InstrumentLimits(max_stop_ticks=40)})
    res = acct.submit(order("ES", BUY, bracket=Bracket(stop_ticks=20)))
    assert (res.ok, res.rule) == (False, "max_stop_ticks")
    assert "wider than the ES max stop of 16 ticks" in res.reason
    assert acct.submit(order("ES", BUY, bracket=Bracket(stop_ticks=16))).ok
    assert acct.submit(order("NQ", BUY, bracket=Bracket(stop_ticks=40))).ok


# -- account-wide P&L limits and the kill switch act on every instrument -------------------------


def test_a_daily_loss_breach_on_nq_halts_entries_on_es_too():
    acct = account(daily_loss_limit_cents=50_000)  # $500
    assert acct.submit(order("ES", BUY)).ok  # at 20000, flat P&L
    assert acct.submit(order("NQ", BUY)).ok  # at 80000
    print_at(acct, NQ_ID, 79900)  # NQ -100 ticks x $5 = -$500: the limit
    assert acct.risk.state == TradingState.HALTED and acct.risk.state_rule == "daily_loss"
    assert (qty(acct, "ES"), qty(acct, "NQ")) == (0, 0)  # the breach flattened both
    assert acct.ledger.day_pnl_cents(acct.risk.trading_date) == -50_000
    for root in ("ES", "MES", "NQ"):
        res = acct.submit(order(root, BUY))
        assert (res.ok, res.rule) == (False, "halted")


def test_the_kill_switch_flattens_es_and_nq_and_cancels_working_orders_in_both():
    acct = account()
    assert acct.submit(order("ES", BUY, 2)).ok
    assert acct.submit(order("NQ", SELL)).ok
    assert acct.submit(order("ES", BUY, type=OrderType.LIMIT, limit_price=19990)).ok
    assert acct.submit(order("NQ", SELL, type=OrderType.LIMIT, limit_price=80010)).ok
    assert acct.submit(order("MES", BUY, 3)).ok  # the micro on the ES tape goes too
    print_at(acct, ES_ID, 20004)
    print_at(acct, NQ_ID, 79996)
    acct.kill("trader", "test")
    assert acct.open_orders() == [] and acct.ledger.is_flat
    exits = {e.instrument: e for e in acct.ledger.round_trips}
    assert exits["ES"].exit_value_ticks == 2 * 20004 and exits["ES"].gross_cents == 2 * 4 * 1250
    assert exits["NQ"].exit_value_ticks == 79996 and exits["NQ"].gross_cents == 4 * 500
    assert exits["MES"].gross_cents == 3 * 4 * 125


# -- a micro on its E-mini's tape -----------------------------------------------------------------


def test_an_mes_order_on_the_es_tape_fills_at_es_prices_with_mes_tick_value():
    acct = account({ES_ID: "ES"})
    acct.on_events(levels(T0 + 10 * MS, [(BID, 0, 19999, 10), (ASK, 0, 20001, 3)], instrument_id=ES_ID))
    assert acct.submit(order("MES", BUY, 2)).ok
    fill = acct.ledger.positions["MES"]
    assert (fill.qty, fill.avg_price_ticks) == (2, 20001)  # the ES ask
    assert acct.broker.fill_model("MES") == "mbp"
    print_at(acct, ES_ID, 20005)
    assert acct.ledger.unrealized_cents == 4 * 2 * 125  # marked on the ES tape, $1.25 a tick
    acct.on_events(levels(acct.clock_ns + MS, [(BID, 0, 20004, 10), (ASK, 0, 20006, 5)], instrument_id=ES_ID))
    assert acct.submit(order("MES", SELL, 2)).ok  # takes the ES bid
    (rt,) = acct.ledger.round_trips
    assert (rt.instrument, rt.exit_value_ticks, rt.gross_cents) == ("MES", 2 * 20004, 3 * 2 * 125)
    assert "ES" not in acct.ledger.positions  # nothing was booked as ES


def test_an_mes_limit_waits_behind_the_es_queue_at_its_price():
    acct = account({ES_ID: "ES"})
    acct.on_events(levels(T0 + 10 * MS, [(BID, 0, 19999, 10), (ASK, 0, 20001, 3)], instrument_id=ES_ID))
    oid = acct.submit(order("MES", BUY, type=OrderType.LIMIT, limit_price=19999)).order_id
    print_at(acct, ES_ID, 19999, size=10, side=-1)  # sellers take the 10 ES lots ahead of us
    assert acct.orders[oid].filled_qty == 0
    print_at(acct, ES_ID, 19999, size=1, side=-1)
    assert (acct.orders[oid].filled_qty, acct.ledger.positions["MES"].avg_price_ticks) == (1, 19999)


def test_an_mnq_order_fills_on_the_nq_tape_not_the_es_tape():
    acct = account()
    assert acct.submit(order("MNQ", SELL, 4)).ok
    assert acct.ledger.positions["MNQ"].avg_price_ticks == 80000
    print_at(acct, ES_ID, 20100)  # ES moves: no effect on MNQ
    print_at(acct, NQ_ID, 79990)
    assert acct.ledger.unrealized_cents == 10 * 4 * 50


def test_each_order_fills_on_its_own_tape_when_its_feed_is_open():
    acct = account({ES_ID: "ES", MES_ID: "MES"})
    print_at(acct, MES_ID, 20008)  # the MES feed prints a different price
    assert acct.submit(order("MES", BUY)).ok
    assert acct.submit(order("ES", BUY)).ok
    assert acct.ledger.positions["MES"].avg_price_ticks == 20008
    assert acct.ledger.positions["ES"].avg_price_ticks == 20000


def test_a_micro_feed_opened_later_takes_over_the_micros_working_orders():
    broker = PaperBroker(PaperSettings(), {ES_ID: "ES"})
    acct = Account(TradingSettings(), broker=broker)
    print_at(acct, ES_ID, 20000)
    oid = acct.submit(order("MES", BUY, type=OrderType.LIMIT, limit_price=19996)).order_id
    broker.map_tape({MES_ID: "MES"})
    print_at(acct, ES_ID, 19990)  # through the limit on ES: no longer its tape
    assert acct.orders[oid].filled_qty == 0
    print_at(acct, MES_ID, 19995)
    assert acct.orders[oid].filled_qty == 1


# -- the snapshot: rows per instrument and account totals -----------------------------------------


def test_the_snapshot_has_a_row_per_instrument_and_totals_that_are_their_sums():
    acct = account(max_position=3, instruments={"MES": InstrumentLimits(max_position=20)})
    assert acct.submit(order("ES", BUY)).ok
    assert acct.submit(order("MES", BUY, 10)).ok
    assert acct.submit(order("NQ", SELL)).ok
    print_at(acct, ES_ID, 20002)
    print_at(acct, NQ_ID, 80004)
    assert acct.submit(order("NQ", BUY)).ok  # NQ closed at -4 ticks: -$20
    assert acct.submit(order("ES", SELL, type=OrderType.LIMIT, limit_price=20010)).ok
    snap = acct.snapshot()
    rows = {r.instrument: r for r in snap.instruments}
    assert [r.instrument for r in snap.instruments] == ["ES", "MES", "NQ"]
    assert (rows["ES"].qty, rows["ES"].unrealized_cents, rows["ES"].working_orders) == (1, 2 * 1250, 1)
    assert (rows["MES"].qty, rows["MES"].unrealized_cents, rows["MES"].exposure_tenths) == (10, 10 * 2 * 125, 10)
    assert (rows["NQ"].qty, rows["NQ"].realized_today_cents, rows["NQ"].trades_today) == (0, -4 * 500, 1)
    assert snap.realized_today_cents == sum(r.realized_today_cents for r in snap.instruments) == -2000
    assert snap.unrealized_cents == sum(r.unrealized_cents for r in snap.instruments) == 5000
    assert snap.day_pnl_cents == sum(r.day_pnl_cents for r in snap.instruments) == 3000
    assert snap.trades_today == sum(r.trades_today for r in snap.instruments) == 3
    assert snap.exposure_tenths == 20
    gauge = {g.rule: g for g in snap.limits}["max_position"]
    assert (gauge.used, gauge.limit) == (10, 20)  # MES is nearest its own limit (1/2 > 1/3)


def test_the_trade_count_is_account_wide_and_counts_working_entries_of_every_instrument():
    acct = account(max_trades_per_day=2)
    assert acct.submit(order("ES", BUY)).ok  # trade 1 (filled)
    assert acct.submit(order("NQ", BUY, type=OrderType.LIMIT, limit_price=79990)).ok  # could be trade 2
    res = acct.submit(order("MES", BUY))
    assert (res.ok, res.rule) == (False, "max_trades_per_day")
    assert "1 trades today; the limit is 2" in res.reason


def test_on_the_real_es_tape_an_mes_account_fills_exactly_like_an_es_account_at_a_tenth_of_the_value(mbp1_file):
    """The same orders, as ES in one account and as MES in another, over the recorded ES mbp-1 file
    (no MES feed): the same fills (time, price, size), every P&L figure exactly a tenth."""
    from tapeflow.core.events import concat
    from tapeflow.feeds.open import open_source
    from tapeflow.trading.tape_ids import tape_roots

    src = open_source(str(mbp1_file))
    ev = concat(list(src))
    tapes = tape_roots(src.info.instrument_ids, src.info.instrument.root)
    assert set(tapes.values()) == {"ES"}
    fills: dict[str, list[tuple[int, int, int, int]]] = {}
    accounts = {}
    for root in ("ES", "MES"):
        acct = Account(TradingSettings(), broker=PaperBroker(PaperSettings(slippage_ticks=1), tapes))
        got = fills[root] = []
        acct.subscribe(lambda e, got=got: e.fill and got.append((e.fill.ts_ns, int(e.fill.side), e.fill.qty,
                                                                   e.fill.price)))
        acct.on_events(ev[:500])
        assert acct.submit(order(root, BUY, 2, bracket=Bracket(stop_ticks=1, target_ticks=1))).ok
        assert acct.submit(order(root, SELL, 1, type=OrderType.LIMIT, limit_price=22118)).ok
        for i in range(500, len(ev), 50):
            acct.on_events(ev[i:i + 50])
        accounts[root] = acct
    es, mes = accounts["ES"], accounts["MES"]
    assert len(fills["ES"]) >= 2 and fills["ES"] == fills["MES"]
    assert es.broker.fill_model("ES") == mes.broker.fill_model("MES") == "mbp"
    assert es.ledger.realized_cents == 10 * mes.ledger.realized_cents
    assert es.ledger.unrealized_cents == 10 * mes.ledger.unrealized_cents
    assert es.ledger.cash_cents == 10 * mes.ledger.cash_cents
    assert [rt.gross_cents for rt in es.ledger.round_trips] == [10 * rt.gross_cents for rt in mes.ledger.round_trips]


# -- property: the account-wide limits hold over random orders in four instruments ------------------

ROOTS = ("ES", "MES", "NQ", "MNQ")
TAPE_OF = {"ES": ES_ID, "MES": ES_ID, "NQ": NQ_ID, "MNQ": NQ_ID}
MAX_EXPOSURE = 25  # 2.5 ES-equivalent
MULTI_LIMITS = {"MES": InstrumentLimits(max_position=20, max_order_qty=10),
                "MNQ": InstrumentLimits(max_position=20, max_order_qty=10)}

print_op = st.tuples(st.just("print"), st.sampled_from((ES_ID, NQ_ID)), st.integers(-3, 3), st.integers(1, 6),
                    st.sampled_from([-1, 1]))
submit_op = st.tuples(st.just("submit"), st.sampled_from(ROOTS), st.sampled_from([BUY, BUY, SELL]),
                      st.sampled_from([1, 2, 2, 5, 10]), st.sampled_from([OrderType.MARKET, *OrderType]),
                      st.integers(-3, 3), st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
multi_ops = st.lists(
    st.one_of(print_op, print_op, submit_op, submit_op, submit_op,
              st.tuples(st.just("cancel"), st.integers(0, 5)),
              st.tuples(st.just("modify"), st.integers(0, 5), st.integers(1, 10))),
    min_size=10,
    max_size=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=multi_ops)
def test_exposure_and_per_instrument_limits_hold_and_one_kill_flattens_everything(ops: list[tuple]):
    acct = account(max_position=2, max_order_qty=2, max_exposure_tenths=MAX_EXPOSURE, instruments=MULTI_LIMITS)
    last = {ES_ID: 20000, NQ_ID: 80000}
    for op in ops:
        if op[0] == "print":
            _, iid, step, size, aggressor = op
            last[iid] += step
            print_at(acct, iid, last[iid], size, aggressor)
        elif op[0] == "submit":
            _, root, side, n, typ, off, br = op
            px = last[TAPE_OF[root]]
            acct.submit(order(
                root, side, n, type=typ, bracket=Bracket(*br) if br else None,
                limit_price=px - int(side) * off if typ in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None,
                stop_price=px + int(side) * (abs(off) + 1) if typ in (OrderType.STOP, OrderType.STOP_LIMIT) else None,
            ))
        elif (open_ := acct.open_orders()) and op[0] == "cancel":
            acct.cancel(open_[op[1] % len(open_)].id)
        elif open_:
            o = open_[op[1] % len(open_)]
            acct.modify(o.id, qty=o.filled_qty + op[2])
        led = acct.ledger
        assert sum(es_equivalent_tenths(r, p.qty) for r, p in led.positions.items()) <= MAX_EXPOSURE
        for r, p in led.positions.items():
            assert abs(p.qty) <= acct.settings.risk.limits_for(r).max_position
        assert led.realized_cents - led.commission_cents + led.unrealized_cents == (
            sum(rt.net_cents for rt in led.round_trips)
            + sum(p.trip_gross - p.trip_commission + p.unrealized_cents for p in led.positions.values()))
    acct.kill("property test")
    print_at(acct, ES_ID, last[ES_ID])
    print_at(acct, NQ_ID, last[NQ_ID])
    assert acct.open_orders() == [] and acct.broker.open_orders() == [] and acct.ledger.is_flat


def test_a_restart_rebuilds_every_instruments_position_and_day_figures_from_the_journal(tmp_path):
    from tapeflow.store.journal import Journal

    def fresh() -> Account:
        return Account(TradingSettings(), broker=PaperBroker(PaperSettings(), {ES_ID: "ES", NQ_ID: "NQ"}),
                       journal=Journal(tmp_path / "journal.db"))

    before = fresh()
    print_at(before, ES_ID, 20000)
    print_at(before, NQ_ID, 80000)
    assert before.submit(order("MES", BUY, 4)).ok  # on the ES tape
    assert before.submit(order("NQ", SELL)).ok
    print_at(before, NQ_ID, 80006)
    assert before.submit(order("NQ", BUY)).ok  # -6 ticks x $5 = -$30
    assert before.submit(order("ES", SELL, 2)).ok
    rows = before.snapshot().instruments
    del before  # the process dies here

    after = fresh()
    report = after.restore(after.journal)
    assert report.positions == {"MES": 4, "ES": -2}
    again = after.snapshot().instruments

    def booked(rs):
        return [(r.instrument, r.qty, r.avg_price_ticks, r.realized_today_cents, r.trades_today) for r in rs]

    assert booked(again) == booked(rows) == [
        ("ES", -2, 20000, 0, 1), ("MES", 4, 20000, 0, 1), ("NQ", 0, None, -3000, 1)]
