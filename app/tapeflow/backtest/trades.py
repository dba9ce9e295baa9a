"""Round trips with the rule that opened them, rebuilt from fills.

A :class:`~tapeflow.trading.positions.RoundTrip` knows prices and P&L but not *why* it was
opened. Both a backtest and a journal have the fills and the orders behind them, so both rebuild
their trades here, with the same ``Ledger`` the account books with: a report from the journal
cannot disagree with the report of the run that wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from decimal import Decimal

from tapeflow.core.events import Side
from tapeflow.core.instruments import Instrument, instrument
from tapeflow.core.sessions import ns_to_et
from tapeflow.trading.orders import Fill
from tapeflow.trading.positions import Ledger, RoundTrip

UNATTRIBUTED = "manual"
"""Rule name of a trade whose opening order carries no rule (a DOM click, a hotkey)."""

SEGMENTS: tuple[tuple[str, time, time], ...] = (
    ("rth_open", time(9, 30), time(10, 30)),
    ("midday", time(10, 30), time(15, 0)),
    ("rth_close", time(15, 0), time(16, 0)),
)
"""Session segments by the ET time of the entry; anything outside them is ``eth``."""

SEGMENT_NAMES = ("rth_open", "midday", "rth_close", "eth")


def segment_of(ts_ns: int) -> str:
    """Session segment (RTH open, midday, close, or ETH) of an entry time."""
    t = ns_to_et(ts_ns).time()
    for name, start, end in SEGMENTS:
        if start <= t < end:
            return name
    return "eth"


@dataclass(frozen=True, slots=True)
class Trade:
    """One round trip and the rule of the order that opened it. Money in cents, prices in ticks."""

    trip: RoundTrip
    rule: str

    @property
    def net_cents(self) -> int:
        return self.trip.net_cents

    @property
    def is_long(self) -> bool:
        return self.trip.direction == Side.BUY

    @property
    def ticks(self) -> Decimal:
        """Gross result per contract in ticks (before commissions): what the chart moved for us."""
        t = self.trip
        return Decimal((t.exit_value_ticks - t.entry_value_ticks) * int(t.direction)) / t.qty

    @property
    def duration_ns(self) -> int:
        return self.trip.exit_ts - self.trip.entry_ts

    @property
    def inst(self) -> Instrument:
        return instrument(self.trip.instrument)

    @property
    def entry_hour_et(self) -> int:
        return ns_to_et(self.trip.entry_ts).hour

    @property
    def segment(self) -> str:
        return segment_of(self.trip.entry_ts)


def attribute_trips(fills: Iterable[Fill], rule_of_order: Mapping[int, str]) -> list[Trade]:
    """Replay fills through a fresh ledger; each trip gets the rule of the order that opened it.

    A reversal closes one trip and opens the next with the same fill, so the new trip is
    attributed to that fill's order. Orders missing from ``rule_of_order`` count as manual.
    """
    ledger = Ledger()
    opener: dict[str, str] = {}
    out: list[Trade] = []
    for f in fills:
        before = ledger.position(f.instrument).qty
        for rt in ledger.apply(f):
            out.append(Trade(rt, opener.get(f.instrument, UNATTRIBUTED)))
        after = ledger.positions[f.instrument].qty
        if after != 0 and (before == 0 or (before > 0) != (after > 0)):
            opener[f.instrument] = rule_of_order.get(f.order_id) or UNATTRIBUTED
    return out
