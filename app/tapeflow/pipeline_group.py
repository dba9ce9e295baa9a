"""Several instruments' pipelines stepped through one merged tape, in tape order.

Why: one terminal session follows several sources, each with its own :class:`Pipeline` (flow state,
rule engine, auto-trader), all on one account. The sources arrive as one tape
(:class:`~tapeflow.feeds.tagged_merge.TaggedMerge`, each row tagged with its source's index in
``instrument_id``); each run of rows of one source goes to that source's pipeline before the next
run is looked at, so the account and its risk limits see the instruments' events in time order, as
in a multi-instrument backtest (:mod:`tapeflow.backtest.multi`).

With one pipeline the rows are not tagged (the source is read as it is) and go straight through.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from tapeflow.flow.bars import BarSpec
from tapeflow.pipeline import Pipeline
from tapeflow.signals.model import Signal


class PipelineGroup:
    """``process`` a merged batch: each source's rows through its own pipeline, runs in order."""

    def __init__(self, pipelines: Sequence[Pipeline]) -> None:
        if not pipelines:
            raise ValueError("a pipeline group needs at least one pipeline")
        self.pipelines = list(pipelines)

    def process(self, batch: np.ndarray) -> list[Signal]:
        """Every row through the pipeline its tag names; the signals fired, in tape order."""
        if len(self.pipelines) == 1:
            return self.pipelines[0].process(batch)
        if not len(batch):
            return []
        tags = batch["instrument_id"]
        cuts = [0, *(np.flatnonzero(tags[1:] != tags[:-1]) + 1).tolist(), len(batch)]
        fired: list[Signal] = []
        for a, b in pairwise(cuts):
            fired.extend(self.pipelines[int(tags[a])].process(batch[a:b]))
        return fired

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
