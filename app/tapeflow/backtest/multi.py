"""Several instruments in one backtest: one pipeline per instrument, one account, one tape order.

Why this shape: risk limits that span instruments (daily loss, ES-equivalent exposure, trade count)
only bind if every instrument's orders go through the same :class:`Account` at the moment they
happen. So each instrument keeps its own :class:`Pipeline` (flow state, rule engine, auto-trader),
all share one account and one paper broker (each instrument's rows read as its own tape), and the
files of one day are merged row by row in timestamp order (:mod:`tapeflow.feeds.merge`) before
they reach the pipelines: an ES signal at 10:00:01 sees every NQ fill up to 10:00:01 and none
after. Ties go to the instrument listed first, and each file keeps its own row order, so the run
is deterministic. :mod:`tapeflow.backtest.lockstep` plays that order without stepping every piece.

The files are given per instrument in date order (``ES day1, NQ day1, ES day2, NQ day2`` or any
interleaving): the k-th file of every instrument makes up the k-th day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    """One instrument's share of a multi-instrument run. Money in cents."""

    root: str
    trades: int
    wins: int
    net_cents: int
    commission_cents: int  # every cost of the trades: broker commission + exchange fees
    open_position: int
    contracts: int = 0  # contract sides the trades filled (2 per contract per round trip)
    broker_commission_cents: int = 0
    exchange_fee_cents: int = 0
    cost_per_side_cents: int = 0  # what one contract pays per side on this instrument (commission + fee)


def group_days(sources: Sequence[EventSource]) -> tuple[list[str], list[list[EventSource]]]:
    """(roots in order of first appearance, days: one source per root each).

    Every instrument needs the same number of files; a mismatch is an error naming the counts."""
    by_root: dict[str, list[EventSource]] = {}
    for s in sources:
        by_root.setdefault(s.info.instrument.root, []).append(s)
    counts = {r: len(v) for r, v in by_root.items()}
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{r}: {n}" for r, n in counts.items())
        raise TapeflowError(f"backtest: several instruments need one file each per day; got {listed} files")
    roots = list(by_root)
    return roots, [[by_root[r][k] for r in roots] for k in range(counts[roots[0]])]
