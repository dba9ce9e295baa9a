"""``tapeflow data list`` and ``tapeflow data download``: the local history of day files.

``list`` shows the catalog (dates, schema, symbols, records, size, gaps) from the files' own DBN
metadata; ``download`` fetches one ``.dbn.zst`` per trading date through Databento's Historical
API after showing the cost. Both work on the data folder's ``history/`` unless ``--data-dir``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tapeflow.history.dates import iso_date


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="the local history: list day files, download from Databento")
    data_sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    ls = data_sub.add_parser("list", help="the catalog: dates, schema, symbol, records, size, gaps")
    ls.add_argument("--symbol", help="only this product (ES, MES, NQ, MNQ)")
    ls.add_argument("--data-dir", help="catalog folder (default: the data folder's history/)")
    ls.add_argument("--format", choices=("text", "json"), default="text")
    ls.set_defaults(func=run_list)
    dl = data_sub.add_parser("download", help="fetch one .dbn.zst per trading date from Databento (cost shown first)")
    dl.add_argument("--symbol", required=True, help="ES (front month, resolved per date), or a contract like ESU4")
    dl.add_argument("--schema", required=True, choices=("mbp-1", "mbo", "trades"))
    dl.add_argument("--from", dest="date_from", required=True, type=iso_date, metavar="YYYY-MM-DD")
    dl.add_argument("--to", dest="date_to", type=iso_date, metavar="YYYY-MM-DD", help="default: --from")
    dl.add_argument("--yes", action="store_true", help="do not ask before buying")
    dl.add_argument("--data-dir", help="where the files go (default: the data folder's history/)")
    dl.add_argument("--gateway", help="Historical API gateway URL (default: Databento's, or "
                                      "$TAPEFLOW_DATABENTO_GATEWAY)")
    dl.set_defaults(func=run_download)


def _folder(args: argparse.Namespace) -> Path:
    from tapeflow.history.catalog import default_data_dir

    return Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()


def run_list(args: argparse.Namespace) -> int:
    from tapeflow.history.catalog import entry_dict, gaps, scan

    folder = _folder(args)
    entries = scan(folder)
    if args.symbol:
        from tapeflow.history.dates import product_root

        root = product_root(args.symbol)
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


def run_download(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tapeflow.errors import TapeflowError
    from tapeflow.history.download import download, make_client, make_plan

    console = Console(stderr=True)
    client = make_client(gateway=args.gateway)
    plan = make_plan(client, args.symbol, args.schema, args.date_from, args.date_to or args.date_from, _folder(args))
    if plan.have:
        console.print(f"{len(plan.have)} trading date(s) already here, not downloaded again: "
                      f"{plan.have[0]} .. {plan.have[-1]}")
    if plan.unresolved:
        console.print(f"[yellow]{plan.symbol} names no contract on {', '.join(map(str, plan.unresolved))}: skipped[/]")
    if not plan.days:
        console.print("nothing to download")
        return 0
    t = Table(title=f"Download {plan.symbol} {plan.schema} ({len(plan.days)} trading dates) to {plan.folder}")
    for c in ("trading date", "instrument id", "size", "cost"):
        t.add_column(c, justify="right")
    for d in plan.days:
        t.add_row(d.day.isoformat(), ",".join(d.instrument_ids), _size(d.size_bytes), f"${d.cost_usd:,.2f}")
    t.add_row("total", "", _size(plan.size_bytes), f"${plan.cost_usd:,.2f}")
    console.print(t)
    if not args.yes:
        if not sys.stdin.isatty():
            raise TapeflowError(f"this download costs ${plan.cost_usd:,.2f}; pass --yes to confirm without a terminal")
        from rich.prompt import Confirm

        if not Confirm.ask(f"Buy and download for ${plan.cost_usd:,.2f}?", console=console, default=False):
            console.print("cancelled")
            return 1
    with Progress(TextColumn("download {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[bytes]}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task(str(plan.days[0].day), total=len(plan.days), bytes="")
        got = 0

        def on_day(day, path: Path) -> None:
            nonlocal got
            got += path.stat().st_size
            bar.update(task, advance=1, description=str(day.day), bytes=_size(got))

        files = download(client, plan, on_day)
    console.print(f"{len(files)} file(s), {_size(got)} in {plan.folder}")
    return 0
