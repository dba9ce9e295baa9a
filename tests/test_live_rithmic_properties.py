"""Property test over the Rithmic order plant's notifications (hypothesis), straight into the broker's
handlers: whatever order they arrive in, repeated, replayed as snapshots (show orders, replayed
executions), exchange reports crossing Rithmic's own, and with a restart in between (a new broker
that knows only the journaled fill ids): each fill is booked once, our position is the venue's, an
order's filled quantity is the sum of its own fills, and a terminal order never comes back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("async_rithmic", reason="the rithmic extra (async-rithmic) is not installed")

from fake_rithmic.server import make
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapeflow.core.events import Side
from tapeflow.trading.live.rithmic.broker import RithmicBroker
from tapeflow.trading.live.rithmic.protocol import RContract
from tapeflow.trading.orders import OrderEvent, OrderRequest, OrderType, new_order

N_ORDERS = 3
QTY = 4


class NoSession:
    """The broker's session, never opened: the test hands notifications to the broker directly."""

    client = None

    def on_plant_up(self, plant: str, fn: Any) -> None:
        pass

    def add_listener(self, fn: Any) -> None:
        pass


def new_broker(seen: set[str], events: list[OrderEvent]) -> RithmicBroker:
    b = RithmicBroker(NoSession(), "TF-001", {"ES": RContract("ESZ6", "CME", Decimal("0.25"))}, seen_fills=seen,
                      clock=lambda: 1)
    b.set_listener(events.append)
    return b


def status(i: int, basket: str, snapshot: bool) -> Any:
    return make(352, notify_type=1, status="open", user_tag=f"tfS-{i}", basket_id=basket, account_id="TF-001",
                symbol="ESZ6", exchange="CME", quantity=QTY, price=5000.0, price_type=1, transaction_type=1 + i % 2,
                is_snapshot=snapshot or None)


def fill(i: int, basket: str, fill_id: int, qty: int, ticks: int, snapshot: bool) -> Any:
    return make(352, notify_type=5, user_tag=f"tfS-{i}", basket_id=basket, account_id="TF-001", symbol="ESZ6",
                exchange="CME", quantity=QTY, price=5000.0, price_type=1, transaction_type=1 + i % 2,
                fill_id=str(fill_id), fill_size=qty, fill_price=ticks * 0.25, is_snapshot=snapshot or None,
                source_ssboe=1_700_000_000)


def complete(i: int, basket: str, reason: str) -> Any:
    return make(351, notify_type=15, completion_reason=reason, user_tag=f"tfS-{i}", basket_id=basket,
                account_id="TF-001", symbol="ESZ6", exchange="CME", quantity=QTY, price_type=1,
                transaction_type=1 + i % 2)


def cancel(i: int, basket: str) -> Any:
    return make(352, notify_type=3, user_tag=f"tfS-{i}", basket_id=basket, account_id="TF-001", symbol="ESZ6",
                exchange="CME", quantity=QTY, price_type=1, transaction_type=1 + i % 2)


# the venue's truth: per order, its fills (fill id numbered per order, as Rithmic does: the same id on
# two orders is two fills) and whether the rest was cancelled
venue_orders = st.lists(st.tuples(st.lists(st.tuples(st.integers(1, 2), st.integers(19990, 20010)), max_size=2),
                                  st.booleans()), min_size=N_ORDERS, max_size=N_ORDERS)
# what happens to the stream: a permutation key per message, duplicates, snapshot copies, a restart point
noise = st.tuples(st.lists(st.integers(0, 10_000), min_size=40, max_size=40),
                  st.lists(st.integers(0, 39), max_size=8), st.booleans(), st.one_of(st.none(), st.integers(0, 40)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(venue_orders, noise)
def test_any_interleaving_books_each_fill_once_and_our_position_is_the_venues(truth, noise):
    keys, dup_at, snapshots, restart_at = noise
    stream: list[Any] = []
    expected: dict[str, tuple[int, int, int]] = {}  # fill key -> (order index, signed qty, ticks)
    for i, (fills, cancelled) in enumerate(truth):
        basket = str(100 + i)
        stream.append(status(i, basket, False))
        for n, (qty, ticks) in enumerate(fills, start=1):
            stream.append(fill(i, basket, n, qty, ticks, False))
            if snapshots:  # a replay at reconnect repeats it as a snapshot
                stream.append(fill(i, basket, n, qty, ticks, True))
            expected[f"{basket}:{n}"] = (i, qty if i % 2 == 0 else -qty, ticks)
        if cancelled:
            stream += [cancel(i, basket), complete(i, basket, "Cancel")]
        if snapshots:
            stream.append(status(i, basket, True))
    stream += [stream[d % len(stream)] for d in dup_at]
    order = sorted(range(len(stream)), key=lambda k: (keys[k % len(keys)], k))
    stream = [stream[k] for k in order]

    events: list[OrderEvent] = []
    broker = new_broker(set(), events)
    ids = []
    for i in range(N_ORDERS):
        o = new_order(i + 1, OrderRequest(instrument="ES", side=Side.BUY if i % 2 == 0 else Side.SELL, qty=QTY,
                                          type=OrderType.LIMIT, limit_price=20000), 0, client_id=f"tfS-{i}")
        broker.book.submitted(o, 0)
        ids.append(o.id)
    brokers = [broker]
    terminal: set[int] = set()
    for step, msg in enumerate(stream):
        if step == restart_at:  # a restart: a new broker knowing only the journaled fill ids
            broker = new_broker({e.fill.venue_fill_id for e in events if e.fill is not None}, events)
            brokers.append(broker)
        (broker._on_rithmic if msg.template_id == 351 else broker._on_exchange)(msg)
        if broker is brokers[0]:
            for oid in ids:
                if oid in terminal:
                    assert broker.book.orders[oid].status.is_terminal, "a terminal order came back to life"
                elif broker.book.orders[oid].status.is_terminal:
                    terminal.add(oid)

    booked = [e.fill for e in events if e.fill is not None]
    assert len({f.venue_fill_id for f in booked}) == len(booked), "a fill was booked twice"
    assert {f.venue_fill_id for f in booked} == set(expected)
    venue_position = sum(q for _, q, _ in expected.values())
    assert sum(b.book.positions.get("ES", 0) for b in brokers) == venue_position
    assert sum(int(f.side) * f.qty for f in booked) == venue_position
    if len(brokers) == 1:
        for i, oid in enumerate(ids):
            mine = [(abs(q), t) for k, (j, q, t) in expected.items() if j == i]
            o = broker.book.orders[oid]
            assert o.filled_qty == sum(q for q, _ in mine)
            assert o.fill_value_ticks == sum(q * t for q, t in mine)
