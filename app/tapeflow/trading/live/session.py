"""An account on a live venue: restore, connect, reconcile against the journal, kill at the venue.

The journal is the account's memory and the venue is the truth: at start the ledger is rebuilt
from the journal, the broker learns which venue fills are booked already (their trade ids) and
from when to ask for more, and the reconciliation books what is missing. Positions that still
differ afterwards, positions without a stop and orders nobody here placed come back as warnings
for the panel. The kill switch on a live account cancels and closes *at the venue* and is only
done when the venue's own position report says flat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

import msgspec

from tapeflow.core.sessions import trading_date_of
from tapeflow.trading.account import Account, RestoreReport
from tapeflow.trading.live.book import seen_fill_ids
from tapeflow.trading.live.reports import KillReport, ReconcileReport
from tapeflow.trading.orders import OrderEvent

RESUME_MARGIN_NS = 5 * 60 * 1_000_000_000  # ask the venue for trades a little before the last one booked
FIRST_LOOKBACK_NS = 24 * 3600 * 1_000_000_000  # no venue fill journaled yet: the last day


class LiveVenue(Protocol):
    """What a live session needs of a venue broker (ProjectX now, Rithmic next)."""

    since_ns: int
    last_report: ReconcileReport | None

    async def start(self) -> ReconcileReport: ...

    def kill_at_venue(self) -> None: ...

    async def kill_result(self) -> KillReport: ...


def resume_point(fill_rows: Iterable[dict[str, Any]], now_ns: int) -> int:
    """Where to ask the venue for trades from: before the last journaled venue fill, else a day back."""
    ts = [int(r["ts_ns"]) for r in fill_rows if r.get("venue_fill_id")]
    return max(ts) - RESUME_MARGIN_NS if ts else now_ns - FIRST_LOOKBACK_NS


class StartReport(msgspec.Struct, frozen=True, kw_only=True):
    restore: RestoreReport | None
    reconcile: ReconcileReport
    mismatched: dict[str, tuple[int, int]]  # instrument -> (journal, venue) signed contracts

    @property
    def warnings(self) -> list[str]:
        out = list(self.reconcile.warnings)
        for inst, (ours, theirs) in self.mismatched.items():
            out.append(f"{inst}: the venue holds {theirs:+d}, the journal {ours:+d}: check before trading")
        return out


def journal_seed(journal: Any, now_ns: int) -> tuple[set[str], int]:
    """(venue fill ids already booked, where to resume the trade search) from a journal."""
    rows = journal.rows("fills")
    return seen_fill_ids(rows), resume_point(rows, now_ns)


class VenueFillsOnly:
    """A journal as a live account restores from it: only the fills a venue reported. The paper
    account of the same journal (the terminal on a replay, a paper webhook) books its simulated
    fills there too, and they are not the venue account's position or P&L."""

    def __init__(self, journal: Any) -> None:
        self.journal = journal

    def rows(self, table: str) -> list[dict[str, Any]]:
        rows = self.journal.rows(table)
        return [r for r in rows if r.get("venue_fill_id")] if table == "fills" else rows


async def start_live(account: Account, venue: LiveVenue, journal: Any | None = None) -> StartReport:
    """Restore from the journal (if any; its venue fills), connect and reconcile, and compare
    positions with the venue."""
    restore = account.restore(VenueFillsOnly(journal)) if journal is not None else None
    watch_limits(account, venue)
    rec = await venue.start()
    ours = {k: p.qty for k, p in account.ledger.positions.items() if p.qty}
    keys = set(ours) | {k for k, v in rec.venue_positions.items() if v}
    mismatched = {k: (ours.get(k, 0), rec.venue_positions.get(k, 0)) for k in sorted(keys)
                  if ours.get(k, 0) != rec.venue_positions.get(k, 0)}
    return StartReport(restore=restore, reconcile=rec, mismatched=mismatched)


def watch_limits(account: Account, venue: Any) -> Callable[[], None]:
    """After every live fill: the account's clock and mark move to the fill, the venue's realized day
    P&L is handed to the risk manager (also when the venue reports it apart from the fills), and the
    limits are checked (the stricter of ours and the
    venue's holds against the daily loss limit). Returns the unsubscribe function."""

    def on_event(e: OrderEvent) -> None:
        f = e.fill
        if f is None:
            return
        account.risk.venue_realized_today_cents = venue.venue_realized_cents.get(trading_date_of(f.ts_ns), 0)
        account.advance_clock(f.ts_ns)
        account.mark(f.instrument, f.price)

    def on_venue_pnl() -> None:  # a venue that reports its P&L apart from the fills (Rithmic's 451)
        now = venue.clock()
        account.risk.venue_realized_today_cents = venue.venue_realized_cents.get(trading_date_of(now), 0)
        account.advance_clock(now)

    if hasattr(venue, "venue_pnl_listener"):
        venue.venue_pnl_listener = on_venue_pnl
    return account.subscribe(on_event)


async def kill_live(account: Account, venue: LiveVenue, by: str, reason: str = "kill switch") -> KillReport:
    """Pull the kill switch (``Account.kill``: latch, automation off, and on a live venue its
    cancel-all and close-position) and wait until the venue's own position report says flat."""
    account.kill(by, reason)
    return await venue.kill_result()
