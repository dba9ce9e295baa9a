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
from tapeflow.feeds.merge import merge_tapes

MERGED_BATCH_ROWS = 8192
"""Rows per merged batch: the pieces of the merge (a few rows each when two busy tapes interleave)
are gathered into batches this size, so the replay store grows in large steps."""


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
        pieces: list[np.ndarray] = []
        tags: list[int] = []
        rows = 0
        for k, part in merge_tapes(self.sources):
            pieces.append(part)
            tags.append(k)
            rows += len(part)
            if rows >= self.batch_rows:
                yield _tagged(pieces, tags)
                pieces, tags, rows = [], [], 0
        if pieces:
            yield _tagged(pieces, tags)


def _tagged(pieces: list[np.ndarray], tags: list[int]) -> np.ndarray:
    out = np.concatenate(pieces)
    out["instrument_id"] = np.repeat(np.asarray(tags, dtype=out["instrument_id"].dtype),
                                     [len(p) for p in pieces])
    return out


def _known(pick, values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return pick(known) if known else None
