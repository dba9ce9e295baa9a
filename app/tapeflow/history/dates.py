"""``--symbol ES --from D --to D`` wherever a command takes a FILE: the catalog's day files.

Commands call :func:`add_range_args` when they build their parser and :func:`day_files_from_args`
(or :func:`open_range_or`) where they choose their source, one line each, so the code that
reads a FILE stays as it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import numpy as np

from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource, FeedInfo, FeedStats
from tapeflow.history.catalog import DayFiles, default_data_dir, scan, select


def add_range_args(p: argparse.ArgumentParser, *, positional: str | None = "source") -> None:
    """``--from``, ``--to``, ``--schema``, ``--data-dir``, ``--skip-missing``; the FILE argument
    named ``positional`` becomes optional (a date range replaces it)."""
    for action in p._actions:  # argparse has no public way to relax an argument already added
        if positional and action.dest == positional:
            action.nargs = "?" if action.nargs is None else "*"
            action.default = None if action.nargs == "?" else []
    g = p.add_argument_group("date range (instead of FILE: the catalog's day files, see 'tapeflow data list')")
    g.add_argument("--from", dest="date_from", type=iso_date, metavar="YYYY-MM-DD", help="first trading date")
    g.add_argument("--to", dest="date_to", type=iso_date, metavar="YYYY-MM-DD", help="last trading date "
                                                                                       "(default: --from)")
    g.add_argument("--schema", dest="range_schema", choices=("mbp-1", "mbp-10", "mbo", "tbbo", "trades"),
                   help="schema to read when a day has several (default: mbp-1 first)")
    g.add_argument("--data-dir", help="catalog folder (default: the data folder's history/)")
    g.add_argument("--skip-missing", action="store_true", help="leave out trading dates that have no file")


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2024-07-02, got {text!r}") from None


def wants_range(args: argparse.Namespace) -> bool:
    return getattr(args, "date_from", None) is not None or getattr(args, "date_to", None) is not None


def day_files_from_args(args: argparse.Namespace, given: object = None) -> list[DayFiles] | None:
    """The day files of ``--from/--to`` (``None`` without a range). A FILE and a range together, or
    a range without ``--symbol``, is an error naming the options."""
    if not wants_range(args):
        return None
    if given:
        raise TapeflowError("give either FILE or --from/--to, not both")
    if not args.symbol:
        raise TapeflowError("--from/--to need --symbol (e.g. --symbol ES)")
    first = args.date_from or args.date_to
    last = args.date_to or args.date_from
    folder = Path(args.data_dir) if args.data_dir else default_data_dir()
    return select(scan(folder), product_root(args.symbol), first, last, schema=args.range_schema,
                  skip_missing=args.skip_missing)


def product_root(symbol: str) -> str:
    """``ES``, ``ESU4`` or ``ES.c.0`` -> ``ES``; an unknown symbol is an error naming it."""
    from tapeflow.core.instruments import parse_symbol

    return parse_symbol(symbol.split(".")[0]).instrument.root


def open_range_or(args: argparse.Namespace, open_file: Callable[[argparse.Namespace], EventSource]) -> EventSource:
    """The date range as one source (day files one after another), else ``open_file(args)``."""
    days = day_files_from_args(args, getattr(args, "source", None))
    if days is None:
        if not getattr(args, "source", None):
            raise TapeflowError("give a FILE, or --symbol ES --from YYYY-MM-DD --to YYYY-MM-DD")
        return open_file(args)
    return DaysSource([f for d in days for f in d.files], symbol=args.symbol)


class DaysSource:
    """Day files read one after another as one ``EventSource`` (each file opened when reached, so
    memory holds one batch, not the range).

    ``signals`` and ``footprint`` read a range this way: bars and rules start afresh at each
    session, so each day gives what it gives alone, except that a day's last time bar, which a
    file read alone never closes, closes at the next day's first event (tested).
    ``backtest`` instead runs one pipeline per day (:mod:`tapeflow.history.engine`)."""

    def __init__(self, files: list[str], *, symbol: str | None = None) -> None:
        from tapeflow.backtest.runner import open_sources

        self._sources = open_sources(files, symbol=symbol)
        first = self._sources[0].info
        self.info = FeedInfo(source=f"{first.source} .. {self._sources[-1].info.source} ({len(files)} files)",
                             schema=first.schema, instrument=first.instrument, symbols=list(first.symbols),
                             instrument_ids=dict(first.instrument_ids))
        self.stats = FeedStats()

    def __iter__(self) -> Iterator[np.ndarray]:
        self.stats = FeedStats()
        for src in self._sources:
            for batch in src:
                self.stats.count_batch(batch)
                yield batch
            self.stats.records += src.stats.records
            for reason, n in src.stats.malformed.items():
                self.stats.skip(reason, n)
