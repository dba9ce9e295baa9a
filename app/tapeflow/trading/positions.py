"""Positions and P&L, exact: integer ticks and integer cents, FIFO lots.

Several instruments share one ledger (one account): each has its own position and lots, booked at
its own tick value (an MES fill at an ES price is worth $1.25 a tick), and its own per-day figures
(``instrument_days``) beside the account's (``days``), which are their sums.

Realized P&L is booked per fill against the oldest open lots (FIFO), so every figure is an
integer number of cents. A *round trip* runs from flat to flat (a reversal closes one and opens
the next); its P&L equals the sum of the realized P&L of its exit fills. Daily figures are keyed
by the CME trading date of the fill (``core.sessions``), not the calendar date.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import msgspec

from tapeflow.core.events import Side
from tapeflow.core.instruments import instrument
from tapeflow.core.sessions import trading_date_of
from tapeflow.trading.orders import Fill


class RoundTrip(msgspec.Struct, frozen=True, kw_only=True):
    """One flat-to-flat trade. Values are sums of price*qty in ticks so averages stay exact."""

    instrument: str
    direction: Side  # BUY = long trade, SELL = short trade
    entry_ts: int  # first entry fill, UTC ns
    exit_ts: int  # fill that made the position flat, UTC ns
    qty: int  # contracts entered (== contracts exited)
    entry_value_ticks: int  # sum(price * qty) over entry fills
    exit_value_ticks: int  # sum(price * qty) over exit fills
    gross_cents: int
    commission_cents: int  # entry and exit fills
    trading_date: date  # of the exit

    @property
    def net_cents(self) -> int:
        return self.gross_cents - self.commission_cents

    @property
    def avg_entry_ticks(self) -> Decimal:
        return Decimal(self.entry_value_ticks) / self.qty

    @property
    def avg_exit_ticks(self) -> Decimal:
        return Decimal(self.exit_value_ticks) / self.qty


@dataclass(slots=True)
class DayStats:
    """One trading date of one account (all instruments), cents."""

    realized_cents: int = 0  # gross, from fills on that date
    commission_cents: int = 0
    round_trips: int = 0
    entries: int = 0  # round trips opened (risk: trades per day)
    wins: int = 0
    losses: int = 0

    @property
    def net_cents(self) -> int:
        return self.realized_cents - self.commission_cents


@dataclass(slots=True)
class Position:
    """Open position of one instrument: FIFO lots of [price ticks, signed qty]."""

    instrument: str
    tick_cents: int
    qty: int = 0  # signed contracts: + long, - short
    lots: deque[list[int]] = field(default_factory=deque)
    mark: int | None = None  # last trade price, ticks
    # the round trip in progress
    trip_entry_ts: int = 0
    trip_qty: int = 0
    trip_entry_value: int = 0
    trip_exit_value: int = 0
    trip_gross: int = 0
    trip_commission: int = 0

    @property
    def unrealized_cents(self) -> int:
        """Open P&L marked to the last trade (0 when flat or never marked)."""
        if self.mark is None or self.qty == 0:
            return 0
        return sum((self.mark - p) * q for p, q in self.lots) * self.tick_cents

    @property
    def avg_price_ticks(self) -> Decimal | None:
        """Average entry of the open lots, exact (for display)."""
        if self.qty == 0:
            return None
        return Decimal(sum(p * q for p, q in self.lots)) / self.qty

    @property
    def trip_realized_net_cents(self) -> int:
        """Realized net P&L of the round trip in progress (scale-outs so far)."""
        return self.trip_gross - self.trip_commission


class Ledger:
    """All positions, cash and per-day statistics of one account; fed fills in order."""

    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}
        self.round_trips: list[RoundTrip] = []
        self.days: dict[date, DayStats] = {}
        self.instrument_days: dict[tuple[str, date], DayStats] = {}  # (root, trading date): its share
        self.cash_cents = 0  # -sum(side*price*qty*tick) - commissions: reconciles with P&L
        self.realized_cents = 0  # gross, all time
        self.commission_cents = 0  # all time
        self.fills = 0

    def position(self, root: str) -> Position:
        pos = self.positions.get(root)
        if pos is None:
            pos = Position(root, instrument(root).tick_value_cents)
            self.positions[root] = pos
        return pos

    def day(self, d: date) -> DayStats:
        s = self.days.get(d)
        if s is None:
            s = self.days[d] = DayStats()
        return s

    def instrument_day(self, root: str, d: date) -> DayStats:
        """One instrument's figures on trading date ``d`` (created empty)."""
        s = self.instrument_days.get((root, d))
        if s is None:
            s = self.instrument_days[(root, d)] = DayStats()
        return s

    def mark(self, root: str, price: int) -> None:
        """Mark an instrument to its last trade price (ticks)."""
        self.position(root).mark = price

    def apply(self, fill: Fill) -> list[RoundTrip]:
        """Book a fill; returns the round trips it closed (0, 1; a reversal closes one)."""
        pos = self.position(fill.instrument)
        d = trading_date_of(fill.ts_ns)
        days = (self.day(d), self.instrument_day(fill.instrument, d))
        sign = int(fill.side)
        self.fills += 1
        self.cash_cents -= sign * fill.price * fill.qty * pos.tick_cents + fill.commission_cents
        self.commission_cents += fill.commission_cents
        for day in days:
            day.commission_cents += fill.commission_cents
        closed: list[RoundTrip] = []
        remaining = fill.qty
        # commission is split between the closing and the opening part in proportion to qty
        closing = min(remaining, abs(pos.qty)) if pos.qty * sign < 0 else 0
        close_comm = fill.commission_cents * closing // fill.qty
        open_comm = fill.commission_cents - close_comm
        if closing:
            gross = 0
            left = closing
            while left:
                lot = pos.lots[0]
                take = min(left, abs(lot[1]))
                gross += (fill.price - lot[0]) * take * (1 if lot[1] > 0 else -1)
                lot[1] -= take if lot[1] > 0 else -take
                left -= take
                if lot[1] == 0:
                    pos.lots.popleft()
            gross *= pos.tick_cents
            pos.qty += sign * closing
            remaining -= closing
            self.realized_cents += gross
            for day in days:
                day.realized_cents += gross
            pos.trip_gross += gross
            pos.trip_commission += close_comm
            pos.trip_exit_value += fill.price * closing
            if pos.qty == 0:
                closed.append(self._close_trip(pos, fill.ts_ns, sign, days))
        if remaining:
            if pos.qty == 0:
                pos.trip_entry_ts = fill.ts_ns
                for day in days:
                    day.entries += 1
            pos.lots.append([fill.price, sign * remaining])
            pos.qty += sign * remaining
            pos.trip_qty += remaining
            pos.trip_entry_value += fill.price * remaining
            pos.trip_commission += open_comm
        pos.mark = fill.price if pos.mark is None else pos.mark
        return closed

    def _close_trip(self, pos: Position, ts: int, exit_sign: int, days: tuple[DayStats, ...]) -> RoundTrip:
        rt = RoundTrip(
            instrument=pos.instrument,
            direction=Side(-exit_sign),
            entry_ts=pos.trip_entry_ts,
            exit_ts=ts,
            qty=pos.trip_qty,
            entry_value_ticks=pos.trip_entry_value,
            exit_value_ticks=pos.trip_exit_value,
            gross_cents=pos.trip_gross,
            commission_cents=pos.trip_commission,
            trading_date=trading_date_of(ts),
        )
        pos.trip_qty = pos.trip_entry_value = pos.trip_exit_value = 0
        pos.trip_gross = pos.trip_commission = 0
        for day in days:
            day.round_trips += 1
            if rt.net_cents > 0:
                day.wins += 1
            elif rt.net_cents < 0:
                day.losses += 1
        self.round_trips.append(rt)
        return rt

    @property
    def unrealized_cents(self) -> int:
        return sum(p.unrealized_cents for p in self.positions.values())

    def open_value_cents(self) -> int:
        """Market value of all open positions at their marks (for cash reconciliation)."""
        return sum(p.qty * (p.mark or 0) * p.tick_cents for p in self.positions.values())

    def day_pnl_cents(self, d: date) -> int:
        """Realized net (after commission) on trading date ``d`` plus open P&L now."""
        s = self.days.get(d)
        return (s.net_cents if s else 0) + self.unrealized_cents

    @property
    def is_flat(self) -> bool:
        return all(p.qty == 0 for p in self.positions.values())

    @classmethod
    def replay(cls, fills: Iterable[Fill]) -> Ledger:
        """Rebuild a ledger from journaled fills (after a restart)."""
        ledger = cls()
        for f in fills:
            ledger.apply(f)
        return ledger
