"""Small tape builders for tests and benchmarks of the trading package (prices in ticks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time

import numpy as np

from tapeflow.core.events import LEVEL_UNKNOWN, Flag, Kind, Side, empty_events, make_trades
from tapeflow.core.sessions import et_to_ns
from tapeflow.trading.account import Account
from tapeflow.trading.orders import OrderEvent, OrderRequest
from tapeflow.trading.settings import PaperSettings, TradingSettings

MS = 1_000_000  # ns


def et(d: date, hhmm: str, seconds: int = 0) -> int:
    """UTC ns of an ET wall-clock time (``"10:00"``) on a date."""
    h, m = (int(x) for x in hhmm.split(":"))
    return et_to_ns(d, time(h, m, seconds))


def trades(
    t0: int, rows: Sequence[tuple[int, int, int]], step_ns: int = MS, instrument_id: int = 0
) -> np.ndarray:
    """A TRADE batch from ``(price, size, side)`` rows, ``step_ns`` apart from ``t0``."""
    ts = [t0 + i * step_ns for i in range(len(rows))]
    return make_trades(
        ts, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], instrument_id=instrument_id
    )


def levels(ts: int, rows: Sequence[tuple[int, int, int, int]], instrument_id: int = 0) -> np.ndarray:
    """A LEVEL batch at one time from ``(side, depth, price, size)`` rows (side 1 bid, -1 ask)."""
    out = empty_events(len(rows))
    out["ts_event"] = ts
    out["ts_recv"] = ts
    out["kind"] = Kind.LEVEL
    out["instrument_id"] = instrument_id
    for i, (side, depth, price, size) in enumerate(rows):
        out["side"][i] = side
        out["level"][i] = depth
        out["price"][i] = price
        out["size"][i] = size
    return out


_NO_BOOK_CHANGE = frozenset("TFN")


def mbo(ts: int, rows: Sequence[tuple], instrument_id: int = 0, step_ns: int = 0) -> np.ndarray:
    """An MBO (L3) tape from ``(action, order_id, side, price, size)`` rows, as Databento sends it.

    ``action`` is one of ``A C M R F T``; a ``T`` row is the print (``side`` = aggressor, 1 buyer,
    -1 seller), every other row is an ORDER row (``side`` = the resting order's side, 1 bid, -1
    ask). Book-changing rows (A, C, M, R) end their exchange event (the ``LAST`` flag) unless a
    sixth element ``False`` says the event goes on; ``T`` and ``F`` rows never end it, so
    ``("T", ...), ("F", ...), ("C", ...)`` is one event whose book is consistent after the ``C``.
    """
    out = empty_events(len(rows))
    for i, r in enumerate(rows):
        action, oid, side, price, size = r[:5]
        last = (r[5] if len(r) > 5 else True) and action not in _NO_BOOK_CHANGE
        out["ts_event"][i] = out["ts_recv"][i] = ts + i * step_ns
        out["kind"][i] = Kind.TRADE if action == "T" else Kind.ORDER
        out["action"][i] = ord(action)
        out["order_id"][i] = oid
        out["side"][i] = side
        out["price"][i] = price
        out["size"][i] = size
        out["level"][i] = LEVEL_UNKNOWN
        out["flags"][i] = Flag.LAST if last else 0
        out["instrument_id"][i] = instrument_id
    return out


def paper_account(**paper: int) -> tuple[Account, list[OrderEvent]]:
    """An account on the paper broker with ``PaperSettings(**paper)``, and the list its events go to."""
    acct = Account(TradingSettings(paper=PaperSettings(**paper)))
    events: list[OrderEvent] = []
    acct.subscribe(events.append)
    return acct, events


def fill_list(events: list[OrderEvent]) -> list[tuple[int, int, int]]:
    """(order id, qty, price in ticks) of every fill among ``events``."""
    return [(e.order.id, e.fill.qty, e.fill.price) for e in events if e.fill is not None]


def es_request(side: Side, qty: int = 1, **kw: object) -> OrderRequest:
    """An ES order request (``type``, ``limit_price``, ``stop_price``, ``bracket``... as keywords)."""
    return OrderRequest(instrument="ES", side=side, qty=qty, **kw)  # type: ignore[arg-type]
