"""``tapeflow info FILE``: schema, instruments, time range, record counts, malformed records."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from tapeflow.commands._source import add_source_args, open_from_args, read_all
from tapeflow.core.timeutil import ns_to_iso
from tapeflow.feeds.base import EventSource
from tapeflow.feeds.csv_file import OUT_OF_ORDER


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="describe a market-data file: schema, symbols, time range, counts")
    add_source_args(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def describe(source: EventSource) -> dict:
    """Read the whole source and summarise it as plain JSON-able data."""
    read_all(source)
    info, stats = source.info, source.stats
    first = stats.first_ts if stats.first_ts is not None else info.start_ns
    last = stats.last_ts if stats.last_ts is not None else info.end_ns
    return {
        "source": str(info.source),
        "schema": info.schema,
        "instrument": info.instrument.root,
        "symbols": list(info.symbols),
        "start": ns_to_iso(first) if first is not None else None,
        "end": ns_to_iso(last) if last is not None else None,
        "records": stats.records,
        "events": {k.lower(): v for k, v in sorted(stats.events.items())},
        "trades": stats.trades,
        "trade_volume": stats.trade_volume,
        "inferred_side": stats.inferred_side,
        "malformed": stats.malformed_total,
        "malformed_reasons": dict(stats.malformed),
        "out_of_order": stats.malformed.get(OUT_OF_ORDER, 0),
        "notes": list(info.notes),
    }


def run(args: argparse.Namespace) -> int:
    d = describe(open_from_args(args))
    if args.format == "json":
        print(json.dumps(d))
        return 0
    t = Table(show_header=False, box=None, pad_edge=False)
    for key in ("source", "schema", "instrument", "symbols", "start", "end", "records", "trades", "trade_volume"):
        t.add_row(key, str(d[key]))
    t.add_row("events", ", ".join(f"{k} {v:,}" for k, v in d["events"].items()) or "none")
    t.add_row("malformed", f"{d['malformed']:,}" + (f" ({d['malformed_reasons']})" if d["malformed"] else ""))
    if d["out_of_order"]:
        t.add_row("out of order", f"{d['out_of_order']:,} rows earlier than the row before them (skipped, not sorted)")
    if d["inferred_side"]:
        t.add_row("inferred side", f"{d['inferred_side']:,} trades")
    for note in d["notes"]:
        t.add_row("note", note)
    Console().print(t)
    return 0
