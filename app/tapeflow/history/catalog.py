"""The local catalog: every DBN file in the data folder, described by its own metadata.

Why from the files and not from their names: a renamed or hand-copied file is still found, and a
file that is not what its name says cannot fool a backtest. Dates, schema and symbols come from
the DBN metadata header (cheap: a few hundred bytes); the record count needs the whole file
decompressed, so it is kept in ``catalog.json`` next to the files, keyed by name, size and
modification time, and counted again only when a file changes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import zstandard

from tapeflow.errors import TapeflowError
from tapeflow.history.calendar import holiday_name, is_trading_date, trading_date_of

if TYPE_CHECKING:
    from tapeflow.feeds.dbn_file import DbnFileSource

INDEX_FILE = "catalog.json"
DBN_SUFFIXES = (".dbn", ".dbn.zst")
SCHEMA_PREFERENCE = ("mbp-1", "mbp-10", "mbo", "tbbo", "trades")
"""Which schema a date range reads when a day has several: the book-and-trades one first (the
paper broker fills against the book), plain trades last."""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """One file of the catalog. Times are UTC ns; ``records`` counts DBN records (not events)."""

    path: str
    trading_date: date  # of the start time the metadata announces (holiday sessions: the next date)
    last_date: date  # trading date of the metadata end (== trading_date for a one-day file)
    dataset: str
    schema: str
    root: str  # product: ES, MES, NQ, MNQ
    symbols: tuple[str, ...]  # as requested: ESU4, ES.c.0, ...
    records: int
    size: int  # bytes on disk
    start_ns: int
    end_ns: int | None


@dataclass(frozen=True, slots=True)
class Gap:
    """A date with no file inside a series' first-to-last date."""

    root: str
    schema: str
    day: date
    reason: str  # "missing" or the holiday's name

    @property
    def is_holiday(self) -> bool:
        return self.reason != "missing"


def default_data_dir() -> Path:
    """``<data folder>/history``: where downloads go and date ranges look."""
    from tapeflow.appdirs import app_paths

    return app_paths().data_dir / "history"


def scan(folder: str | Path) -> list[CatalogEntry]:
    """Every DBN file under ``folder`` (recursively), sorted by product, schema, date and name.

    A file that is not valid DBN is an error naming it: a catalog that silently drops a day would
    let a backtest skip it unnoticed.
    """
    from tapeflow.feeds.dbn_file import DbnFileSource

    root = Path(folder).expanduser()
    if not root.exists():
        return []
    if not root.is_dir():
        raise TapeflowError(f"{root}: not a folder")
    index = _load_index(root)
    fresh: dict[str, dict] = {}
    out: list[CatalogEntry] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name.lower().endswith(DBN_SUFFIXES)):
        st = path.stat()
        key = str(path.relative_to(root))
        src = DbnFileSource(path)
        cached = index.get(key)
        if cached and cached.get("size") == st.st_size and cached.get("mtime_ns") == st.st_mtime_ns:
            records = int(cached["records"])
        else:
            records = count_records(path, src.record_dtype.itemsize)
        fresh[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "records": records}
        out.append(describe(src, records, st.st_size))
    if fresh != index:
        _save_index(root, fresh)
    out.sort(key=lambda e: (e.root, e.schema, e.trading_date, e.start_ns, e.path))
    return out


def describe(src: DbnFileSource, records: int, size: int) -> CatalogEntry:
    """A catalog entry from a file's metadata header."""
    meta = src.metadata
    start = int(meta.start)
    end = int(meta.end) if meta.end else None
    first = trading_date_of(start)
    last = trading_date_of(end - 1) if end and end > start else first
    return CatalogEntry(str(src.path), first, last, str(meta.dataset), src.schema, src.info.instrument.root,
                        tuple(src.info.symbols), records, size, start, end)


def count_records(path: Path, record_size: int) -> int:
    """DBN records in a file: decompressed bytes after the header over the record size."""
    from tapeflow.feeds.dbn_file import _open_stream, _read_metadata

    raw, stream = _open_stream(path)
    total = 0
    try:
        _read_metadata(path, stream)
        while chunk := stream.read(1 << 20):
            total += len(chunk)
    except zstandard.ZstdError as e:
        raise TapeflowError(f"{path}: corrupt zstd data: {e}") from None
    finally:
        raw.close()
    return total // record_size


def gaps(entries: Iterable[CatalogEntry]) -> list[Gap]:
    """Weekdays with no file between each (product, schema) series' first and last date."""
    series: dict[tuple[str, str], set[date]] = {}
    for e in entries:
        days = series.setdefault((e.root, e.schema), set())
        d = e.trading_date
        while d <= e.last_date:
            days.add(d)
            d += timedelta(days=1)
    out: list[Gap] = []
    for (root, schema), days in sorted(series.items()):
        d, last = min(days), max(days)
        while d <= last:
            if d.weekday() < 5 and d not in days:
                out.append(Gap(root, schema, d, holiday_name(d) or "missing"))
            d += timedelta(days=1)
    return out


@dataclass(frozen=True, slots=True)
class DayFiles:
    """The files of one trading date, in time order, and the schema they hold."""

    day: date
    schema: str
    files: tuple[str, ...]


def select(entries: Sequence[CatalogEntry], root: str, first: date, last: date, *, schema: str | None = None,
           skip_missing: bool = False) -> list[DayFiles]:
    """The files for every trading date of ``first..last`` (holidays and weekends are not asked for).

    A trading date without a file is an error naming it (``skip_missing`` leaves it out instead):
    a range that quietly lost a day would report figures for days that were never run.
    """
    if last < first:
        raise TapeflowError(f"--from {first} is after --to {last}")
    root = root.upper()
    by_day: dict[date, dict[str, list[CatalogEntry]]] = {}
    for e in entries:
        if e.root == root and e.trading_date == e.last_date and first <= e.trading_date <= last:
            by_day.setdefault(e.trading_date, {}).setdefault(e.schema, []).append(e)
    out: list[DayFiles] = []
    missing: list[date] = []
    d = first
    while d <= last:
        if is_trading_date(d):
            have = by_day.get(d, {})
            pick = schema if schema else next((s for s in SCHEMA_PREFERENCE if s in have), None)
            files = have.get(pick or "", [])
            if files:
                ordered = sorted(files, key=lambda e: (e.start_ns, e.path))
                out.append(DayFiles(d, pick or "", tuple(e.path for e in ordered)))
            else:
                missing.append(d)
        d += timedelta(days=1)
    if missing and not skip_missing:
        what = f"{root} {schema}" if schema else root
        shown = ", ".join(str(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise TapeflowError(f"no {what} file for {len(missing)} trading date(s): {shown}; download them with "
                            f"'tapeflow data download --symbol {root} --from {missing[0]} --to {missing[-1]}' "
                            "or pass --skip-missing")
    if not out:
        raise TapeflowError(f"no {root} files for trading dates {first} to {last}")
    return out


def _load_index(root: Path) -> dict[str, dict]:
    try:
        doc = json.loads((root / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _save_index(root: Path, index: dict[str, dict]) -> None:
    """Best effort (a read-only folder still lists); written whole, then renamed over the old one."""
    tmp = root / f".{INDEX_FILE}.tmp"
    try:
        tmp.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, root / INDEX_FILE)
    except OSError:
        pass


def entry_dict(e: CatalogEntry) -> dict:
    """An entry as JSON-ready values."""
    d = asdict(e)
    d["trading_date"], d["last_date"] = e.trading_date.isoformat(), e.last_date.isoformat()
    d["symbols"] = list(e.symbols)
    return d
