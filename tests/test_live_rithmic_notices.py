"""Rithmic's notifications and figures in our terms: known answers, no network."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")

from fake_rithmic.server import make

from tapeflow.core.events import Side
from tapeflow.trading.live.rithmic import notices as nt
from tapeflow.trading.live.rithmic.connect import front_contracts
from tapeflow.trading.live.rithmic.protocol import AUTO, MANUAL, cents, placement
from tapeflow.trading.order_state import Cancelled, CommandRefused, Rejected, Triggered, Updated
from tapeflow.trading.orders import OrderRequest, OrderType, Source, new_order

TICK = Decimal("0.25")
STOP_LIMIT = new_order(1, OrderRequest(instrument="ES", side=Side.SELL, qty=2, type=OrderType.STOP_LIMIT,
                                       stop_price=19980, limit_price=19978), 0, client_id="tfS-1")


def test_prices_are_whole_ticks_and_fill_keys_name_the_order():
    assert nt.to_ticks(5000.25, TICK) == 20001 and nt.to_ticks(4999.999999, TICK) == 20000
    assert nt.to_price(20001, TICK) == 5000.25 and nt.to_price(None, TICK) is None
    assert nt.fill_key("1001", "7") == "1001:7" != nt.fill_key("1002", "7")
    assert nt.side_of(1) == nt.side_of("BUY") == Side.BUY and nt.side_of("SELL") == nt.side_of(2) == Side.SELL


def test_only_the_users_own_clicks_are_manual():
    assert placement(Source.MANUAL) == MANUAL
    assert {placement(s) for s in (Source.RULE, Source.WEBHOOK, Source.BRACKET, Source.FLATTEN)} == {AUTO}


def test_pnl_plant_amounts_are_exact_cents():
    assert cents("-152.80") == -15280 and cents("49850") == 4_985_000 and cents("") is None and cents("n/a") is None


def test_front_contracts_are_named_as_rithmic_names_them():
    c = front_contracts(["ES", "MNQ"], date(2026, 12, 5))
    assert (c["ES"].symbol, c["ES"].exchange, c["ES"].tick_size) == ("ESZ6", "CME", TICK)
    assert c["MNQ"].symbol == "MNQZ6"
    assert front_contracts(["ES"], date(2026, 12, 15))["ES"].symbol == "ESH7"  # rolled


def test_rithmic_completions_become_rejects_cancels_and_nothing_for_a_fill():
    def done(reason: str, text: str = "") -> object:
        return nt.rithmic_notice(make(351, notify_type=15, completion_reason=reason, text=text), STOP_LIMIT, TICK)

    assert done("Reject", "Price out of band") == Rejected("Price out of band")
    assert done("Failure") == Rejected("Failure")
    assert done("Cancel") == Cancelled("cancelled at the venue")
    assert done("Fill") is None  # fills come from the exchange's fill reports
    failed = make(351, notify_type=16, text="Atomic order operation in progress")
    assert nt.rithmic_notice(failed, STOP_LIMIT, TICK) == CommandRefused("Atomic order operation in progress")


def test_exchange_reports_become_terms_triggers_cancels_and_rejects():
    modified = make(352, notify_type=2, quantity=1, price=4994.0, trigger_price=4994.5)
    assert nt.exchange_notice(modified, STOP_LIMIT, TICK) == Updated(qty=1, limit_price=19976, stop_price=19978)
    assert nt.exchange_notice(make(352, notify_type=4), STOP_LIMIT, TICK) == Triggered()
    assert nt.exchange_notice(make(352, notify_type=3), STOP_LIMIT, TICK) == Cancelled("cancelled at the venue")
    assert nt.exchange_notice(make(352, notify_type=6, text="no"), STOP_LIMIT, TICK) == Rejected("no")
    assert nt.exchange_notice(make(352, notify_type=1, status="pending"), STOP_LIMIT, TICK) is None
