"""Several recorded feeds as one tape: rows of every feed in ``ts_event`` order, one replay clock.

Why: a paper account trading ES and NQ off two files must see their rows in the order they
happened. Replaying each file on its own clock starts every file "now", so a file that begins
later in the day runs ahead of the other and its fills land out of time order (an NQ fill at
10:00:10 before an ES fill at 10:00:08). Merged first, one :class:`~tapeflow.feeds.replay.Replay`
paces them all on the recorded clock.

Each feed numbers its instruments its own way, so rows are renumbered into one shared
:class:`~tapeflow.trading.tape_ids.TapeNumbers` as they are merged (the merge runs on the replay's
reader thread: ids a feed defines late are numbered there and published as a fresh ``roots`` map
for the consumer to hand the broker on its own thread before it reads those rows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from tapeflow.feeds.base import EventSource
from tapeflow.feeds.merge import TapeMerge, gathered
from tapeflow.trading.tape_ids import TapeNumbers

CHUNK_ROWS = 16_384
"""Merged rows per batch handed to the replay (it slices them by time again)."""


class MergedFeeds:
    """An ``EventSource``-like iterable over ``sources`` (``(tape index, source)``) in time order.

    ``roots``: the shared numbering's ``id -> root`` map as of the last batch yielded (a new dict
    whenever it grows, never changed in place). ``ended``: ``(last ts_event, source index)`` of each
    feed that has run out, in the order they did; a consumer says so once its replay reaches that time.
    """

    def __init__(self, sources: Sequence[tuple[int, EventSource]], numbers: TapeNumbers,
                 chunk_rows: int = CHUNK_ROWS) -> None:
        self.sources = list(sources)
        self.numbers = numbers
        self.chunk_rows = chunk_rows
        self.roots: dict[int, str] = dict(numbers.roots)
        self.ended: list[tuple[int, int]] = []
        first = self.sources[0][1]
        self.info, self.stats = first.info, first.stats  # what a Replay reports as its source's

    def __iter__(self) -> Iterator[np.ndarray]:
        return gathered(self._renumbered(), self.chunk_rows)

    def _renumbered(self) -> Iterator[np.ndarray]:
        """The merge's spans with each feed's ids renumbered into the shared numbering."""
        merge = TapeMerge([src for _, src in self.sources])
        known = [len(src.info.instrument_ids) for _, src in self.sources]
        for k, batch, a, b in merge.spans():
            index, src = self.sources[k]
            if len(src.info.instrument_ids) != known[k]:  # the feed defined ids since
                known[k] = len(src.info.instrument_ids)
                if self.numbers.update(index, src.info.instrument_ids, src.info.instrument.root):
                    self.roots = dict(self.numbers.roots)
            part = self.numbers.renumber(index, batch[a:b])
            self._note_ended(merge)
            yield part
        self._note_ended(merge)

    def _note_ended(self, merge: TapeMerge) -> None:
        done = {k for _, k in self.ended}
        for k in range(len(self.sources)):
            if k not in done and merge.exhausted(k):
                self.ended.append((merge.last_ts(k), k))
