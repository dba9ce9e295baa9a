"""Several instruments in one backtest: one pipeline per instrument, one account, one tape order.

Why this shape: risk limits that span instruments (daily loss, ES-equivalent exposure, trade count)
only bind if every instrument's orders go through the same :class:`Account` at the moment they
happen. So each instrument keeps its own :class:`Pipeline` (flow state, rule engine, auto-trader),
all share one account and one paper broker (each instrument's rows read as its own tape), and the
files of one day are merged row by row in timestamp order before they reach the pipelines: an ES
signal at 10:00:01 sees every NQ fill up to 10:00:01 and none after. Ties go to the instrument
listed first, and each file keeps its own row order, so the run is deterministic.

The files are given per instrument in date order (``ES day1, NQ day1, ES day2, NQ day2`` or any
interleaving): the k-th file of every instrument makes up the k-th day.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

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


def merge_tapes(tapes: Sequence[Iterable[np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
    """``(tape index, rows)`` of several tapes in ``ts_event`` order, each tape's rows kept in order.

    Ties go to the lower index. A tape whose clock steps back (out-of-order rows in a file) is read
    by its running maximum, so its own order is never changed."""
    for i, batch, a, b in merge_spans(tapes):
        yield i, batch[a:b]


def merge_spans(tapes: Sequence[Iterable[np.ndarray]]) -> Iterator[tuple[int, np.ndarray, int, int]]:
    """:func:`merge_tapes` as ``(tape index, source batch, start, end)``: which rows of which batch."""
    return TapeMerge(tapes).spans()


class TapeMerge:
    """The merge of :func:`merge_tapes`, with each tape's current batch open to its consumer, who
    may take rows off the front of a tape between spans (:meth:`skip`). Each tape's batches are
    pulled one at a time, when the merge reaches them."""

    def __init__(self, tapes: Sequence[Iterable[np.ndarray]]) -> None:
        n = len(tapes)
        self._its = [iter(t) for t in tapes]
        self.batches: list[np.ndarray] = [np.empty(0)] * n
        self.keys: list[np.ndarray] = [np.empty(0, dtype=np.int64)] * n  # running max of ts_event
        self.pos = [0] * n
        self._carry = [np.iinfo(np.int64).min] * n
        self._done = [False] * n

    def _refill(self, i: int) -> bool:
        """True when tape ``i`` has rows left (its next batch pulled if the current one is done)."""
        while self.pos[i] >= len(self.batches[i]):
            b = None if self._done[i] else next(self._its[i], None)
            if b is None:
                self._done[i] = True
                return False
            if len(b):
                k = np.maximum.accumulate(np.maximum(b["ts_event"].astype(np.int64), self._carry[i]))
                self.batches[i], self.keys[i], self.pos[i], self._carry[i] = b, k, 0, int(k[-1])
        return True

    def live(self) -> list[int]:
        """Tapes with rows left."""
        return [i for i in range(len(self.pos)) if self._refill(i)]

    def skip(self, i: int, end: int) -> None:
        """Rows of tape ``i``'s current batch before ``end`` are the consumer's (handed out otherwise)."""
        self.pos[i] = max(self.pos[i], end)

    def spans(self) -> Iterator[tuple[int, np.ndarray, int, int]]:
        keys, pos = self.keys, self.pos
        while live := self.live():
            heads = sorted((int(keys[j][pos[j]]), j) for j in live)
            _, i = heads[0]
            if len(heads) == 1:
                end = len(keys[i])
            else:
                t, j = heads[1]
                end = int(np.searchsorted(keys[i], t, side="right" if i < j else "left"))
                end = max(end, pos[i] + 1)
            start, pos[i] = pos[i], end  # before the yield: the consumer sees the merge past this span
            yield i, self.batches[i], start, end
