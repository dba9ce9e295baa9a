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
