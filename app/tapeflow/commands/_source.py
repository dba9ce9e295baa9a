"""Shared command-line plumbing: the source argument and reading a whole source with progress."""

from __future__ import annotations

import argparse
import time

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from tapeflow.core.events import concat
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.open import open_source

PROGRESS_AFTER_S = 1.0  # show a progress bar only once reading has taken this long


def add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source",
        metavar="FILE",
        help="DBN (.dbn, .dbn.zst) or CSV file, sim:// for the simulator, or a ws://host:port feed",
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
