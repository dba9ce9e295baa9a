"""Several instruments' pipelines stepped through one merged tape, in tape order.

Why: one terminal session follows several sources, each with its own :class:`Pipeline` (flow state,
rule engine, auto-trader), all on one account. The sources arrive as one tape
(:class:`~tapeflow.feeds.tagged_merge.TaggedMerge`, each row tagged with its source's index in
``instrument_id``); each run of rows of one source goes to that source's pipeline before the next
run is looked at, so the account and its risk limits see the instruments' events in time order, as
in a multi-instrument backtest (:mod:`tapeflow.backtest.multi`).

Two busy tapes interleave in runs of a few dozen rows, and a pipeline step has a fixed cost (flow,
rules, broker): stepping run by run made two instruments at max replay speed 10x slower than one.
So by default a batch is played as the backtest plays a day (:mod:`tapeflow.playback`): each
pipeline plans its own rows of the batch in one step, then the plans are played back run by run in
the order the batch gives, with the same fills, orders, signals and bars as stepping each run
(``lockstep=False``, the reference). After every batch the broker has seen every row of it, so
whatever comes between batches (a DOM click, a webhook alert, the kill switch) meets the books as of
the batch's end.

With one pipeline the rows are not tagged (the source is read as it is) and go straight through.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tapeflow.flow.bars import BarSpec
from tapeflow.pipeline import Pipeline
from tapeflow.playback import Playback
from tapeflow.signals.model import Signal
from tapeflow.trading.account import Account
from tapeflow.trading.paper_broker import PaperBroker


class PipelineGroup:
    """``process`` a merged batch: each source's rows through its own pipeline, runs in order.

    ``lockstep``: plan and play back (module doc) when every pipeline trades one paper account;
    False steps every run through ``Pipeline.process``."""

    def __init__(self, pipelines: Sequence[Pipeline], *, lockstep: bool = True) -> None:
        if not pipelines:
            raise ValueError("a pipeline group needs at least one pipeline")
        self.pipelines = list(pipelines)
        self.lockstep = lockstep

    def process(self, batch: np.ndarray) -> list[Signal]:
        """Every row through the pipeline its tag names; the signals fired, in tape order."""
        if len(self.pipelines) == 1:
            return self.pipelines[0].process(batch)
        if not len(batch):
            return []
        tags = batch["instrument_id"]
        bounds = np.flatnonzero(tags[1:] != tags[:-1]) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(batch)]))
        account = self._paper_account() if self.lockstep else None
        if account is not None:
            return self._play(account, batch, tags, starts, ends)
        fired: list[Signal] = []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            fired.extend(self.pipelines[int(tags[a])].process(batch[a:b]))
        return fired

    def _paper_account(self) -> Account | None:
        """The one paper account every pipeline trades, else None (the runs are then stepped)."""
        account = getattr(self.pipelines[0], "account", None)
        if account is None or not isinstance(account.broker, PaperBroker):
            return None
        return account if all(p.account is account for p in self.pipelines) else None

    def _play(self, account: Account, batch: np.ndarray, tags: np.ndarray, starts: np.ndarray,
              ends: np.ndarray) -> list[Signal]:
        """Plan each source's rows of ``batch`` whole, then play the runs ``starts``/``ends`` back in
        order. A new player each batch: its plans go on from the pipelines' state (a backward jump
        that starts every flow state over needs nothing more)."""
        fired: list[Signal] = []
        player = Playback(self.pipelines, account, lambda _k, sigs: fired.extend(sigs))
        run_tags = tags[starts]
        lengths = ends - starts
        local = np.empty(len(starts), dtype=np.int64)  # where each run starts among its source's rows
        rows_at: dict[int, np.ndarray] = {}  # source -> positions of its rows in the batch
        for k in np.unique(run_tags).tolist():
            mine = run_tags == k
            local[mine] = np.cumsum(lengths[mine]) - lengths[mine]
            at = rows_at[k] = np.flatnonzero(tags == k)
            player.plan(k, batch[at])
        runs = list(zip(run_tags.tolist(), local.tolist(), lengths.tolist(), strict=True))
        r = 0
        while r < len(runs):
            if player.idle():
                skip = self._hold_idle(player, rows_at, starts, r)
                if skip > r:
                    r = skip
                    continue
            k, a, n = runs[r]
            player.play(k, a, a + n)
            r += 1
        player.flush()  # what comes before the next batch meets every book as of this one's end
        if any(t.acts for t in player.tapes):
            raise RuntimeError("playback: a planned signal was not acted on")
        return fired

    @staticmethod
    def _hold_idle(player: Playback, rows_at: dict[int, np.ndarray], starts: np.ndarray, r: int) -> int:
        """While the account is idle, hold at once the rows of every run before the one in which the
        next act falls (no row can fill, mark or breach anything before it); returns that run."""
        limit = None
        for k, at in rows_at.items():
            cut = player.tapes[k].next_act()
            if cut is not None:
                row = int(at[max(cut - 1, 0)])  # the act comes after this row of the batch
                limit = row if limit is None else min(limit, row)
        stop = len(starts) if limit is None else int(np.searchsorted(starts, limit, side="right")) - 1
        if stop <= r:
            return r
        first, last = int(starts[r]), int(starts[stop]) if stop < len(starts) else None
        for k, at in rows_at.items():
            x = int(np.searchsorted(at, first))
            y = len(at) if last is None else int(np.searchsorted(at, last))
            if y > x:
                player.hold(player.tapes[k], x, y)
        return stop

    def idle(self) -> None:
        for p in self.pipelines:
            p.idle()

    @property
    def bar_spec(self) -> BarSpec:
        """The bar every pipeline of a session builds (one ``--bar`` for all)."""
        return self.pipelines[0].flow.settings.bar_spec

    @property
    def last_ts(self) -> int | None:
        """The latest event time any pipeline has seen (ns), None before the first."""
        seen = [p.flow.last_ts for p in self.pipelines if p.flow.last_ts is not None]
        return max(seen) if seen else None
