"""Which prints could change a risk decision: the paper broker stops for the account on those only.

P&L limits (daily loss, trailing drawdown) read the open positions marked to the last print. The
reference is the tape fed one row at a time: after every row the account marks and checks. Doing
that on every print in Python would be slow; doing it only at the end of whatever batch a print
came in made a breach (and its flatten) depend on the batch size. So the broker stops after every
row with a fill, and after every print outside its tape's band computed here: strictly inside
``(lo, hi)`` no limit is reached and no new equity high is made, so checking there changes nothing
(the account still marks at the end of each batch, for display).
"""

from __future__ import annotations

from collections.abc import Callable

from tapeflow.trading.positions import Ledger
from tapeflow.trading.risk import RiskManager

NEVER_LO, NEVER_HI = -(1 << 62), 1 << 62
EVERY_PRINT = (NEVER_HI, NEVER_HI)
"""A band no price is inside: several open positions move each other's limits, so all are marked."""

Band = tuple[int, int]


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def mark_bands(risk: RiskManager, ledger: Ledger, tape_root: Callable[[str], str]) -> dict[str, Band]:
    """Tape root -> (lo, hi) for every tape an open position is marked on (empty: nothing to watch)."""
    s = risk.settings
    d = risk.trading_date
    daily = (s.daily_loss_limit_cents is not None and d is not None and risk.automation_blocked_on != d
             and risk.venue_realized_today_cents is None)
    trailing = s.trailing_drawdown_cents is not None and risk.state_rule != "trailing_drawdown"
    held = [p for p in ledger.positions.values() if p.qty]
    if not held or not (daily or trailing):
        return {}
    if len(held) > 1 or held[0].mark is None:
        return {tape_root(p.instrument): EVERY_PRINT for p in held}
    pos = held[0]
    m0, k = pos.mark, pos.qty * pos.tick_cents  # P&L moves k cents a tick from the mark
    lo, hi = NEVER_LO, NEVER_HI

    def at_or_below(r: int) -> None:
        """Prints where ``k * (price - m0) <= r`` (a breach)."""
        nonlocal lo, hi
        if k > 0:
            lo = max(lo, m0 + r // k)
        else:
            hi = min(hi, m0 + _ceil_div(r, k))

    if daily:
        assert d is not None and s.daily_loss_limit_cents is not None
        at_or_below(-s.daily_loss_limit_cents - ledger.day_pnl_cents(d))
    if trailing:
        assert s.trailing_drawdown_cents is not None
        risk.mark_equity(ledger)
        at_or_below(risk.hwm_cents - s.trailing_drawdown_cents - risk.equity_cents)
        r = risk.hwm_cents - risk.equity_cents  # a new high: k * (price - m0) > r
        if k > 0:
            hi = min(hi, m0 + r // k + 1)
        else:
            lo = max(lo, m0 + _ceil_div(r, k) - 1)
    return {tape_root(pos.instrument): (lo, hi)}
