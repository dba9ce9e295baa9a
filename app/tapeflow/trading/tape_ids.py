"""Which product each of a feed's ``instrument_id`` values is: the paper broker's tape map.

Why a module: a broker that reads the tape must know which rows are which product, and every feed
numbers its instruments its own way (the simulator 1, a Databento file its exchange ids such as
118, a CSV file 0). The answer comes from the feed's own symbol mapping (``FeedInfo.
instrument_ids``: id -> raw symbol such as ``ESU4``), for every feed kind alike: a symbol that
parses names its product; one that does not (a file without symbology names an id by its number)
belongs to the feed's declared instrument. A hard-coded ``{0: "ES"}`` fills nothing on a feed
that numbers ES 1.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tapeflow.core.instruments import parse_symbol
from tapeflow.errors import TapeflowError

UNNUMBERED_ID = 0
"""The id of feeds without instrument definitions (CSV time and sales): their rows carry 0."""


def tape_roots(instrument_ids: Mapping[int, str], feed_root: str) -> dict[int, str]:
    """``instrument_id -> product root`` from a feed's ``id -> raw symbol`` map; ``feed_root`` is
    the feed's declared instrument (symbols that do not parse, and feeds with no ids at all)."""
    roots = {int(iid): _root(raw, feed_root) for iid, raw in instrument_ids.items()}
    return roots or {UNNUMBERED_ID: feed_root}


def _root(raw: str, feed_root: str) -> str:
    try:
        return parse_symbol(str(raw)).instrument.root
    except TapeflowError:
        return feed_root


UNMAPPED_ID = 0xFFFF_FFFF
"""Where rows of an id a feed has not defined go when several feeds share one tape: read by no one."""


class TapeNumbers:
    """Several feeds on one paper broker: each feed numbers its instruments its own way (two
    simulators both call theirs 1), so each feed's ids are renumbered into one numbering, handed
    out in order of appearance. ``roots`` is that numbering's ``id -> root`` map for the broker."""

    def __init__(self) -> None:
        self.roots: dict[int, str] = {}
        self._maps: list[dict[int, int]] = []

    def add_feed(self, instrument_ids: Mapping[int, str], feed_root: str) -> int:
        """Number a new feed's instruments; returns the feed's index."""
        self._maps.append({})
        self.update(len(self._maps) - 1, instrument_ids, feed_root)
        return len(self._maps) - 1

    def update(self, feed: int, instrument_ids: Mapping[int, str], feed_root: str) -> bool:
        """Number the ids the feed defined since (a live feed's late symbol mappings); True if any."""
        own, added = self._maps[feed], False
        for src, root in tape_roots(instrument_ids, feed_root).items():
            if src not in own:
                own[src] = len(self.roots) + 1
                self.roots[own[src]] = root
                added = True
        return added

    def renumber(self, feed: int, batch: np.ndarray) -> np.ndarray:
        """A copy of ``batch`` in the shared numbering (ids the feed never defined: ``UNMAPPED_ID``)."""
        src = batch["instrument_id"]
        out = batch.copy()
        ids = out["instrument_id"]
        ids[:] = UNMAPPED_ID
        for old, new in self._maps[feed].items():
            ids[src == old] = new
        return out
