"""``--symbol ES --from D --to D`` wherever a command takes a FILE: the catalog's day files.

Commands call :func:`add_range_args` when they build their parser and :func:`day_files_from_args`
(or :func:`run_per_day`) where they choose their source, one line each, so the code that
reads a FILE stays as it is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from tapeflow.errors import TapeflowError
from tapeflow.feeds.base import EventSource, FeedInfo, FeedStats
from tapeflow.history.catalog import DayFiles, default_data_dir, scan, select
from tapeflow.history.engine import InlineEngine

R = TypeVar("R")


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
    a range without ``--symbol``, is an error naming the options.

    ``args.symbol`` may be a list (``--symbol ES --symbol NQ``, a command that trades several
    instruments in one account): each date then holds every symbol's files, in the order the symbols
    were given, and a date is run only if every symbol has it (``--skip-missing`` drops a date one
    of them lacks; without it that date is an error naming the symbol)."""
    if not wants_range(args):
        return None
    if given:
        raise TapeflowError("give either FILE or --from/--to, not both")
    symbols = args.symbol if isinstance(args.symbol, list) else [args.symbol] if args.symbol else []
    if not symbols:
        raise TapeflowError("--from/--to need --symbol (e.g. --symbol ES)")
    roots = [product_root(s) for s in symbols]
    twice = sorted({r for r in roots if roots.count(r) > 1})
    if twice:
        raise TapeflowError(f"--symbol {twice[0]} given twice: one --symbol per instrument")
    first = args.date_from or args.date_to
    last = args.date_to or args.date_from
    folder = Path(args.data_dir) if args.data_dir else default_data_dir()
    entries = scan(folder)
    per_root = [select(entries, r, first, last, schema=args.range_schema, skip_missing=args.skip_missing)
                for r in roots]
    return per_root[0] if len(per_root) == 1 else join_days(per_root)


def join_days(per_root: list[list[DayFiles]]) -> list[DayFiles]:
    """One ``DayFiles`` per date every instrument has: their files, instrument by instrument."""
    common = set.intersection(*({d.day for d in days} for days in per_root))
    if not common:
        raise TapeflowError("the instruments have no trading date in common in this range")
    out = []
    for day in sorted(common):
        parts = [next(d for d in days if d.day == day) for days in per_root]
        schema = "+".join(dict.fromkeys(p.schema for p in parts))
        out.append(DayFiles(day, schema, tuple(f for p in parts for f in p.files)))
    return out


def product_root(symbol: str) -> str:
    """``ES``, ``ESU4`` or ``ES.c.0`` -> ``ES``; an unknown symbol is an error naming it."""
    from tapeflow.core.instruments import parse_symbol

    return parse_symbol(symbol.split(".")[0]).instrument.root


@dataclass(frozen=True, slots=True)
class DayRun(Generic[R]):
    """One pipeline's run: its trading date (``None`` for a FILE), the source it read (for its
    malformed counts) and what the command's function made of it."""

    day: date | None
    source: EventSource
    result: R


def run_per_day(args: argparse.Namespace, open_file: Callable[[argparse.Namespace], EventSource],
                fn: Callable[[EventSource], R]) -> Iterator[DayRun[R]]:
    """``fn`` over the FILE once, or over each trading date of ``--from/--to`` on a fresh source,
    in date order, each run handed back as it ends.

    Why per date: a pipeline (bars, flow state, rules) that spans two sessions lets a day's last
    time bar close at the next day's first event, and a command that reads everything first would
    hold the whole range; one run per date gives each day what it gives alone, in one day's memory.
    The days go through the same :class:`~tapeflow.history.engine.InlineEngine` as ``backtest
    --jobs 1`` (in this process, since ``fn`` may hold rules and plugins that do not pickle).
    """
    days = day_files_from_args(args, getattr(args, "source", None))
    if days is None:
        if not getattr(args, "source", None):
            raise TapeflowError("give a FILE, or --symbol ES --from YYYY-MM-DD --to YYYY-MM-DD")
        source = open_file(args)
        yield DayRun(None, source, fn(source))
        return

    def one_day(d: DayFiles) -> DayRun[R]:
        source = DaysSource(list(d.files), symbol=args.symbol)
        return DayRun(d.day, source, fn(source))

    yield from InlineEngine().map(one_day, days)


class DaysSource:
    """The files of one trading date read one after another as one ``EventSource`` (a date may
    be split over several files); :func:`run_per_day` gives each date its own."""

    def __init__(self, files: list[str], *, symbol: str | None = None) -> None:
        from tapeflow.backtest.runner import open_sources

        self._sources = open_sources(files, symbol=symbol)
        first = self._sources[0].info
        name = str(first.source)
        if len(files) > 1:
            name = f"{first.source} .. {self._sources[-1].info.source} ({len(files)} files)"
        self.info = FeedInfo(source=name, schema=first.schema, instrument=first.instrument, symbols=list(first.symbols),
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
