"""``tapeflow data list`` and ``tapeflow data download``: the local history of day files.

``list`` shows the catalog (dates, schema, symbols, records, size, gaps) from the files' own DBN
metadata; ``download`` fetches one ``.dbn.zst`` per trading date through Databento's Historical
API after showing the cost. Both work on the data folder's ``history/`` unless ``--data-dir``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="the local history: list day files, download from Databento")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    ls = data_sub.add_parser("list", help="the catalog: dates, schema, symbol, records, size, gaps")
    ls.add_argument("--symbol", help="only this product (ES, MES, NQ, MNQ)")
    ls.add_argument("--data-dir", help="catalog folder (default: the data folder's history/)")
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(func=run_list)


def _folder(args: argparse.Namespace) -> Path:
    from tapeflow.history.catalog import default_data_dir

    return Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()


def run_list(args: argparse.Namespace) -> int:
    from tapeflow.history.catalog import entry_dict, gaps, scan

    folder = _folder(args)
    entries = scan(folder)
    if args.symbol:
        from tapeflow.history.dates import _root

        root = _root(args.symbol)
        entries = [e for e in entries if e.root == root]
    holes = gaps(entries)
    if args.format == "json":
        doc = {"folder": str(folder), "files": [entry_dict(e) for e in entries],
               "gaps": [{"root": g.root, "schema": g.schema, "date": g.day.isoformat(), "reason": g.reason}
                        for g in holes]}
        print(json.dumps(doc, indent=2))
        return 0
    console = Console()
    if not entries:
        console.print(f"no DBN files in {folder}; fetch some with 'tapeflow data download'")
        return 0
    t = Table(title=f"History in {folder}")
    for col, right in (("trading date", False), ("schema", False), ("product", False), ("symbols", False),
                       ("records", True), ("size", True), ("file", False)):
        t.add_column(col, justify="right" if right else "left")
    for e in entries:
        days = e.trading_date.isoformat() + (f" .. {e.last_date}" if e.last_date != e.trading_date else "")
        t.add_row(days, e.schema, e.root, ",".join(e.symbols), f"{e.records:,}", _size(e.size), Path(e.path).name)
    console.print(t)
    missing = [g for g in holes if not g.is_holiday]
    if holes:
        g = Table(title="Gaps (weekdays without a file)")
        for col in ("date", "product", "schema", "why"):
            g.add_column(col)
        for h in holes:
            why = f"holiday: {h.reason}" if h.is_holiday else "[red]missing[/]"
            g.add_row(h.day.isoformat(), h.root, h.schema, why)
        console.print(g)
    total = sum(e.size for e in entries)
    console.print(f"{len(entries)} files, {_size(total)}, {len(missing)} missing trading date(s)")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)
