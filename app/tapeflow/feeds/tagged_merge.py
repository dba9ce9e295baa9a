"""Several sources as one tape in time order, each row tagged with its source: what lets one replay
clock drive the terminal's several instruments, each source into its own pipeline.

Why one tape: the terminal's replay controls (speed, pause, jump, step a bar) must move every open
instrument together, and the instruments share one account, so an ES signal at 10:00:01 has to see
every NQ fill up to 10:00:01 and none after. Merging the sources into one time-ordered stream and
pacing that stream with one :class:`~tapeflow.feeds.replay.Replay` gives both. The order is the
multi-instrument backtest's (:func:`tapeflow.feeds.merge.merge_tapes`: ties to the source listed
first, each source's own row order kept), so the terminal and a backtest over the same files see
the same tape.

Each row's ``instrument_id`` is replaced by the index of its source (0, 1, ...): the tag
:class:`~tapeflow.pipeline_group.PipelineGroup` routes on. Nothing downstream reads a source's own
ids (each pipeline hands the paper broker its rows as its own instrument).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource, FeedInfo, FeedStats
from tapeflow.feeds.merge import TapeMerge, gathered

MERGED_BATCH_ROWS = 8192
"""Fewest rows per merged batch: the parts of the merge (a source batch's worth where the tapes
overlap, a few rows at the edges) are gathered into batches at least this size, so the replay store
grows in large steps."""


class TaggedMerge:
    """An :class:`EventSource` over ``sources`` in ``ts_event`` order, rows tagged by source index
    (the terminal routes on the source; a receiver that only feeds a broker renumbers ids instead)."""

    def __init__(self, sources: Sequence[EventSource], *, batch_rows: int = MERGED_BATCH_ROWS) -> None:
        if not sources:
            raise TapeflowError("a merged feed needs at least one source")
        self.sources = list(sources)
        self.batch_rows = int(batch_rows)
        first = self.sources[0].info
        self.info = FeedInfo(
            source=" + ".join(s.info.source for s in self.sources),
            schema="merged",
            instrument=first.instrument,
            symbols=[sym for s in self.sources for sym in s.info.symbols],
            instrument_ids={k: s.info.instrument.root for k, s in enumerate(self.sources)},
            start_ns=_known(min, [s.info.start_ns for s in self.sources]),
            end_ns=_known(max, [s.info.end_ns for s in self.sources]),
        )

    @property
    def stats(self) -> FeedStats:
        """The first source's running counts (each source keeps its own: ``sources[k].stats``)."""
        return self.sources[0].stats

    def __iter__(self) -> Iterator[np.ndarray]:
        return gathered(_parts(TapeMerge(self.sources)), self.batch_rows)


def _parts(merge: TapeMerge) -> Iterator[np.ndarray]:
    while (part := _next_part(merge)) is not None:
        yield part


def _next_part(merge: TapeMerge) -> np.ndarray | None:
    """The merge's next rows, tagged, in :func:`~tapeflow.feeds.merge.merge_tapes` order: every row of
    the tapes' current batches that comes before the earliest of their last times, in one sort (by
    time, then source: ties to the source listed first, each source's order kept), or else the next
    span. Why: two busy tapes interleave in pieces of a few dozen rows, and gathering them one by one
    cost more than the terminal's whole pipeline step for them (on the replay's reader thread, but
    under the same interpreter lock)."""
    live = merge.live()
    if not live:
        return None
    if len(live) > 1:
        horizon = min(int(merge.keys[j][-1]) for j in live)
        cuts = {j: int(np.searchsorted(merge.keys[j], horizon, side="left")) for j in live}
        take = [j for j in live if cuts[j] > merge.pos[j]]
        if take:
            rows = np.concatenate([merge.batches[j][merge.pos[j]:cuts[j]] for j in take])
            keys = np.concatenate([merge.keys[j][merge.pos[j]:cuts[j]] for j in take])
            tags = np.repeat(np.asarray(take, dtype=rows["instrument_id"].dtype),
                             [cuts[j] - merge.pos[j] for j in take])
            for j in take:
                merge.skip(j, cuts[j])
            order = np.lexsort((tags, keys))  # stable: each source's rows keep their order
            out = rows[order]
            out["instrument_id"] = tags[order]
            return out
    k, batch, a, b = next(merge.spans())  # the earliest tape's rows at the horizon (or one tape left)
    out = batch[a:b].copy()
    out["instrument_id"] = k
    return out


def _known(pick, values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return pick(known) if known else None
