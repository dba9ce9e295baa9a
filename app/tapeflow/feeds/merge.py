"""Several tapes as one, in ``ts_event`` order: the merge a multi-instrument backtest plays and the
webhook's recorded feeds replay on one clock.

Each tape keeps its own row order; ties go to the tape listed first; a tape whose clock steps back
(out-of-order rows in a file) is read by its running maximum, so its own order is never changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np


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

    def exhausted(self, i: int) -> bool:
        """Tape ``i`` has ended and every row of it was handed out."""
        return self._done[i] and self.pos[i] >= len(self.batches[i])

    def last_ts(self, i: int) -> int:
        """The latest ``ts_event`` read from tape ``i`` so far."""
        return self._carry[i]

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


def gathered(parts: Iterable[np.ndarray], min_rows: int) -> Iterator[np.ndarray]:
    """``parts`` joined into batches of at least ``min_rows`` (the last may be shorter): a merge hands
    out pieces of a few rows where tapes interleave, and a replay store should grow in large steps."""
    pieces: list[np.ndarray] = []
    rows = 0
    for part in parts:
        pieces.append(part)
        rows += len(part)
        if rows >= min_rows:
            yield np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
            pieces, rows = [], 0
    if pieces:
        yield np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
