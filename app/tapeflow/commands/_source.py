"""Shared command-line plumbing: the source argument and reading a whole source with progress."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tapeflow.core.events import concat
from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.open import open_source

PROGRESS_AFTER_S = 1.0  # show a progress bar only once reading has taken this long


def add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        metavar="FILE",
        help="DBN (.dbn, .dbn.zst) or CSV file, sim:// for the simulator, a ws://host:port feed, or "
             "rithmic:ES (rithmic:ESZ6, ?exchange=CME&depth=10) for Rithmic live data",
    )
    p.add_argument("--symbol", help="instrument when the file does not say (ES, MES, NQ, MNQ or e.g. ESZ6)")
    p.add_argument("--tz", help="time zone of naive CSV timestamps (default UTC), e.g. Europe/Madrid")


def open_from_args(args: argparse.Namespace) -> EventSource:
    return open_source(args.source, symbol=args.symbol, tz=args.tz)


def read_all(source: EventSource) -> np.ndarray:
    """Every event of a source as one array; a progress bar on stderr if it takes a while."""
    parts: list[np.ndarray] = []
    started = time.monotonic()
    progress: Progress | None = None
    n = 0
    try:
        for batch in source:
            parts.append(batch)
            n += len(batch)
            if progress is None and time.monotonic() - started > PROGRESS_AFTER_S:
                progress = Progress(
                    TextColumn("reading {task.description}"),
                    BarColumn(),
                    TextColumn("{task.completed:,} events"),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
                progress.start()
                task = progress.add_task(str(source.info.source), total=None)
            if progress is not None:
                progress.update(task, completed=n)
    finally:
        if progress is not None:
            progress.stop()
    return concat(parts)


def malformed_summary(source: EventSource) -> str:
    """One line: 'N malformed records skipped (R read): reason xN, ...'; empty when none were."""
    st = source.stats
    if not st.malformed_total:
        return ""
    reasons = ", ".join(f"{why} x{n:,}" for why, n in st.malformed.most_common())
    return f"{st.malformed_total:,} malformed records skipped ({st.records:,} read): {reasons}"


def check_usable(source: EventSource) -> None:
    """Refuse (exit 2, one line) a source whose trades were all lost to corruption: printing
    "no trades" or "0 signals" with success would hide the loss."""
    if source.stats.trades == 0 and source.stats.malformed_total:
        raise TapeflowError(f"{source.info.source}: no usable trades; {malformed_summary(source)}")


def report_malformed(source: EventSource, fmt: str, console: Console | None = None) -> None:
    """Say what was skipped: a line in text mode; in JSON mode one JSON object on stderr, so
    stdout stays pure records for scripts."""
    text = malformed_summary(source)
    if not text:
        return
    if fmt == "json":
        st = source.stats
        rec = {"source": str(source.info.source), "records": st.records, "malformed": st.malformed_total,
               "malformed_reasons": dict(st.malformed)}
        print(json.dumps(rec), file=sys.stderr)
    else:
        (console or Console()).print(f"[yellow]{text}[/]")
