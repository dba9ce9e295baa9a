"""The Rithmic broker against a local fake Rithmic system over real sockets (TLS websocket, Rithmic's
framing, async-rithmic's own messages): the real client, session, broker, account and journal.
Only the client's SSL context knows it is a test (tests/fake_rithmic)."""

from __future__ import annotations

import pytest

pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")
pytest.importorskip("trustme", reason="trustme (test extra) is not installed")

from rithmic_venue import ES, Run, buy, on_rithmic, sell  # noqa: E402

from tapeflow.trading import Bracket, OrderStatus, OrderType, Source  # noqa: E402


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
