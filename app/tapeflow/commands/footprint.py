"""``tapeflow footprint FILE``: a readable footprint of the last bars and a session summary.

``--format json`` prints JSON Lines, one bar per line (prices in index points), for scripts.
"""

from __future__ import annotations

import argparse
import json
from datetime import date

import numpy as np
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tapeflow.commands._source import add_source_args, check_usable, open_from_args, read_all, report_malformed
from tapeflow.core.instruments import Instrument
from tapeflow.core.sessions import ns_to_et
from tapeflow.core.timeutil import ns_to_iso
from tapeflow.flow.bars import parse_bar_spec
from tapeflow.flow.delta import CumReset
from tapeflow.flow.footprint import FootprintBars
from tapeflow.flow.footprint_batch import build_footprint
from tapeflow.flow.profile import VolumeProfile
from tapeflow.flow.value_area import DEFAULT_VALUE_AREA_METHOD, VALUE_AREA_METHODS
from tapeflow.history.dates import add_range_args, open_range_or


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("footprint", help="print footprint bars (bid x ask per price) and a session summary")
    add_source_args(p)
    add_range_args(p)
    p.add_argument("--bar", default="1m", help="bar type: 1m, 5m, 30s (time), 500t (prints), 1000v (contracts)")
    p.add_argument("--last", type=int, default=4, help="bars to print in text mode (default 4)")
    p.add_argument("--ticks-per-row", type=int, default=1, help="merge N ticks per printed row")
    p.add_argument("--value-area", type=float, default=70.0, help="value area in percent (default 70)")
    p.add_argument("--value-area-method", choices=list(VALUE_AREA_METHODS), default=DEFAULT_VALUE_AREA_METHOD,
                   help="two_row: CBOT, compare two prices above with two below (default); one_row: one at a time")
    p.add_argument("--cum-reset", choices=[r.value for r in CumReset], default=CumReset.SESSION.value)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = open_range_or(args, open_from_args)
    events = read_all(source)
    check_usable(source)
    bars = build_footprint(
        events,
        parse_bar_spec(args.bar),
        value_area=args.value_area / 100.0,
        value_area_method=args.value_area_method,
        cum_reset=CumReset(args.cum_reset),
    )
    inst = source.info.instrument
    if args.format == "json":
        for rec in bars.iter_json_records(inst):
            print(json.dumps(rec))
        report_malformed(source, "json")
        return 0
    console = Console()
    if len(bars) == 0:
        console.print("no trades in this source")
        return 0
    console.print(render_bars(bars.select(slice(max(0, len(bars) - args.last), len(bars))), inst, args.ticks_per_row))
    console.print(render_sessions(bars, inst, events, args.value_area / 100.0, args.value_area_method))
    report_malformed(source, "text", console)
    return 0


def render_bars(bars: FootprintBars, inst: Instrument, ticks_per_row: int = 1) -> Table:
    """Bid x ask per price for each bar; POC in bold, value area marked with a bar at the left."""
    table = Table(title=f"Footprint {bars.spec.label} ({inst.root}), bid x ask", show_lines=False)
    table.add_column("price", justify="right", style="cyan")
    rows_by_bar = [bars.rows(i, ticks_per_row) for i in range(len(bars))]
    for i in range(len(bars)):
        table.add_column(ns_to_et(int(bars.start_ns[i])).strftime("%H:%M:%S ET"), justify="center")
    top = max(int(r["price"][-1]) for r in rows_by_bar)
    bottom = min(int(r["price"][0]) for r in rows_by_bar)
    for price in range(top - top % ticks_per_row, bottom - 1, -ticks_per_row):
        cells: list[Text | str] = [inst.format_price(price)]
        for i, rows in enumerate(rows_by_bar):
            cells.append(_cell(bars, i, rows, price, ticks_per_row))
        table.add_row(*cells)
    table.add_section()
    for label, field in (("volume", "volume"), ("delta", "delta"), ("cum delta", "cum_delta")):
        table.add_row(label, *[f"{int(v):,}" for v in getattr(bars, field)])
    return table


def _cell(bars: FootprintBars, i: int, rows: dict[str, np.ndarray], price: int, ticks_per_row: int) -> Text | str:
    k = (price - int(rows["price"][0])) // ticks_per_row
    if k < 0 or k >= len(rows["price"]):
        return ""
    bid, ask = int(rows["bid"][k]), int(rows["ask"][k])
    in_va = int(bars.val[i]) <= price + ticks_per_row - 1 and price <= int(bars.vah[i])
    is_poc = price <= int(bars.poc[i]) < price + ticks_per_row
    text = Text(f"{'|' if in_va else ' '}{bid:>5} x {ask:<5}")
    if is_poc:
        text.stylize("bold reverse")
    return text


def render_sessions(
    bars: FootprintBars,
    inst: Instrument,
    events: np.ndarray,
    value_area: float,
    method: str = DEFAULT_VALUE_AREA_METHOD,
) -> Table:
    """One block per trading date: range, volume, delta, POC, value area, volume nodes."""
    table = Table(title="Session summary", show_header=False, box=None)
    fmt = inst.format_price
    for ordinal in np.unique(bars.session):
        idx = np.flatnonzero(bars.session == ordinal)
        first_ns, last_ns = int(bars.start_ns[idx[0]]), int(bars.end_ns[idx[-1]])
        span = events[(events["ts_event"] >= first_ns) & (events["ts_event"] <= last_ns)]
        s = VolumeProfile.from_trades(span, value_area=value_area, value_area_method=method).summary()
        if s is None:
            continue
        name = date.fromordinal(int(ordinal)).isoformat() if ordinal > 0 else "outside sessions"
        table.add_row("session", f"[bold]{name}[/]  {ns_to_iso(first_ns)[:19]}Z .. {ns_to_iso(last_ns)[:19]}Z")
        table.add_row("range", f"{fmt(s.low)} - {fmt(s.high)}  ({s.high - s.low} ticks)")
        table.add_row("volume", f"{s.volume:,} contracts, delta {s.delta:+,}, {len(idx)} bars")
        table.add_row("POC / value area", f"{fmt(s.poc)}  /  {fmt(s.val)} - {fmt(s.vah)}")
        table.add_row("HVN", " ".join(fmt(p) for p in s.hvn) or "-")
        table.add_row("LVN", " ".join(fmt(p) for p in s.lvn) or "-")
    return table
