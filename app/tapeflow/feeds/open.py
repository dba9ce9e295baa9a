"""One entry point from a user's source spec (a path or ``sim:...``) to an ``EventSource``.

The file kind is told by its first bytes (zstd or DBN magic), then by its extension, so a
renamed ``.dbn.zst`` still opens; anything else that looks like text is read as CSV.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.csv_file import CsvTradesSource
from tapeflow.feeds.dbn_file import DbnFileSource, sniff_dbn

_CSV_SUFFIXES = (".csv", ".txt", ".tsv")


def open_source(spec: str, *, symbol: str | None = None, tz: str | None = None, **kw: Any) -> EventSource:
    """Open ``spec``: ``sim:``/``sim://...`` for the simulator, ``ws://`` for a websocket feed
    (iterated to its end-of-stream), ``rithmic:ES`` (``rithmic:ESZ6``, ``?exchange=CME&depth=10``)
    for Rithmic live data, else a DBN or CSV file path.

    ``symbol`` names the instrument (overrides DBN metadata; required for a CSV whose file name
    does not name it); ``tz`` is the zone of naive CSV timestamps (default UTC); other keyword
    arguments go to the adapter (e.g. ``batch_size`` for DBN).
    """
    if spec.startswith("sim:"):
        return _open_simulator(spec, symbol)
    if spec.startswith(("ws://", "wss://")):
        from tapeflow.feeds.ws_feed import open_ws_source  # websockets is imported only when used

        return open_ws_source(spec, symbol=symbol)
    if spec.lower().startswith("rithmic:"):
        from tapeflow.feeds.live_rithmic import open_rithmic_source  # async-rithmic loads when it connects

        return open_rithmic_source(spec, symbol=symbol)
    path = Path(spec).expanduser()
    if not path.exists():
        raise TapeflowError(f"{spec}: no such file")
    if not path.is_file():
        raise TapeflowError(f"{spec}: not a file")
    with path.open("rb") as f:
        head = f.read(4)
    name = path.name.lower()
    if sniff_dbn(head) or name.endswith((".dbn", ".dbn.zst", ".zst")):
        return DbnFileSource(path, instrument=symbol, **kw)
    if name.endswith(_CSV_SUFFIXES) or _looks_like_text(path):
        return CsvTradesSource(path, symbol=symbol, tz=tz or "UTC", **kw)
    raise TapeflowError(f"{spec}: unknown file type (expected a .dbn, .dbn.zst or .csv file)")


def _looks_like_text(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(4096)
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _open_simulator(spec: str, symbol: str | None) -> EventSource:
    try:
        from tapeflow.feeds.simulator import open_simulator
    except ImportError as e:
        raise TapeflowError(f"{spec}: the simulator feed is not available in this build ({e})") from None
    return open_simulator(spec, symbol=symbol)
