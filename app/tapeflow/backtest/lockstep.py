"""Several instruments in one account, fast: plan each day's tapes ahead, play the plans back in
time order (:mod:`tapeflow.playback`, which the terminal's replay of several instruments shares).

The plain way (:func:`fine_steps`) hands each instrument's pipeline the pieces of its tape between
the other instruments' rows: one pipeline step per ~30 rows on ES+NQ, a day 15x slower than the two
instruments alone. :class:`Lockstep` plans each source batch whole and plays the plans back through
the merge of the day's tapes, with the pieces cut as the plain way cuts them (``runner.cut_points``);
while the account is idle it holds every row before the next act at once instead of walking the
merge piece by piece.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import pairwise

import numpy as np

from tapeflow.feeds.merge import TapeMerge, merge_spans
from tapeflow.pipeline import Pipeline
from tapeflow.playback import PlannedTape, Playback, Step
from tapeflow.trading.account import Account

Cuts = Callable[[np.ndarray], list[int]]
"""Start indices of the pipeline batches of a piece of rows, plus its end (``runner.cut_points``)."""


def fine_steps(pipes: Sequence[Pipeline], day: Sequence[Iterable[np.ndarray]], cuts: Cuts, step: Step) -> None:
    """The plain way: every merged piece through its instrument's ``Pipeline.process``. Kept as the
    reference :class:`Lockstep` must equal."""
    for k, batch, a, b in merge_spans(day):
        rows = batch[a:b]
        for x, y in pairwise(cuts(rows)):
            fired = pipes[k].process(rows[x:y])
            if fired:
                step(k, fired)


class Lockstep(Playback):
    """Plays planned tapes back against the shared account in merged time order (module doc)."""

    def __init__(self, pipes: Sequence[Pipeline], account: Account, cuts: Cuts, step: Step) -> None:
        super().__init__(pipes, account, step)
        self.cuts = cuts

    def run_day(self, day: Sequence[Iterable[np.ndarray]]) -> None:
        """Play one day's tapes (one source per pipeline)."""
        merge = TapeMerge([_planned(t, src) for t, src in zip(self.tapes, day, strict=True)])
        for k, batch, a, b in merge.spans():
            rows = batch[a:b]
            for x, y in pairwise(self.cuts(rows)):
                self.play(k, a + x, a + y)
            if self.idle():
                self._skip_ahead(merge)
        self.flush()

    def _skip_ahead(self, merge: TapeMerge) -> None:
        """While the account is idle, hold at once every row that comes before the next act (or
        before the end of a tape's current batch, past which the merge cannot see) instead of
        stepping through the merge piece by piece. Rows stepped or held give the same books."""
        live = merge.live()
        if len(live) < 2:
            return
        limit = None
        for j in live:
            tape, keys = self.tapes[j], merge.keys[j]
            at = tape.next_act()
            at = len(keys) if at is None else at - 1
            key = int(keys[min(max(at, 0), len(keys) - 1)])
            limit = key if limit is None else min(limit, key)
        for j in live:
            tape, pos = self.tapes[j], merge.pos[j]
            end = int(np.searchsorted(merge.keys[j], limit, side="left"))
            if end > pos:
                self.hold(tape, pos, end)
                merge.skip(j, end)


def _planned(tape: PlannedTape, source: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The source's batches, each planned as the merge reaches it."""
    for batch in source:
        if len(batch):
            tape.plan(batch)
            yield batch
