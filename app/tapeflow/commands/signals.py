"""``tapeflow signals FILE``: the signals a rules file produces over a recording.

With no ``--rules``, every built-in (and plugin) detector runs once at its defaults, as the issue
asks; ``--rules resources/rules/example.toml`` runs the shipped example rules (the backtest's
default). ``--format json`` prints JSON Lines, one
signal per line (prices in index points). Text mode prints the last signals and a count per
detector kind per session, for a human to sanity-check.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tapeflow.commands._source import add_source_args, check_usable, open_from_args, report_malformed
from tapeflow.core.instruments import Instrument
from tapeflow.core.sessions import ns_to_et, trading_date_of
from tapeflow.flow.state import FlowSettings, FlowState
from tapeflow.history.dates import add_range_args, open_range_or
from tapeflow.signals.engine import RuleEngine, registry_for
from tapeflow.signals.model import Signal
from tapeflow.signals.paths import default_plugins_dir
from tapeflow.signals.plugins import load_registry
from tapeflow.signals.rules import default_rules, load_rules

_SIDE = {1: "buy", -1: "sell", 0: "none"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("signals", help="list the signals a rules file produces over a recording")
    add_source_args(p)
    add_range_args(p)
    p.add_argument("--rules", help="rules file (TOML); default: every detector once at its defaults")
    p.add_argument("--all", action="store_true", help="every detector once at its defaults (ignores --rules)")
    p.add_argument("--plugins", help="folder of plugin modules (default: the repository's plugins/ if present)")
    p.add_argument("--bar", default="1m", help="footprint bars: 1m, 5m, 30s, 500t, 1000v (default 1m)")
    p.add_argument("--last", type=int, default=40, help="signals to list in text mode (default 40)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    source = open_range_or(args, open_from_args)
    inst = source.info.instrument
    plugins = Path(args.plugins) if args.plugins else default_plugins_dir()
    if args.all or not args.rules:
        registry = load_registry([plugins] if plugins else [])
        rules, rules_name = default_rules(registry), "all detectors at defaults"
    else:
        path = Path(args.rules)
        registry = registry_for(path, plugins)
        rules, rules_name = load_rules(path, registry=registry).rules, str(path)
    symbol = source.info.symbols[0] if source.info.symbols else inst.root
    engine = RuleEngine(rules, inst, registry=registry, symbol=symbol)
    state = FlowState(inst, FlowSettings(bar=args.bar))
    signals: list[Signal] = []
    for batch in source:
        signals.extend(engine.on_update(state, state.update(batch), batch))
    check_usable(source)
    if args.format == "json":
        for s in signals:
            print(json.dumps(signal_record(s, inst)))
        report_malformed(source, "json")
        return 0
    console = Console()
    console.print(f"{len(signals):,} signals from {len(rules)} rules ({rules_name}) over {source.info.source}")
    if signals:
        console.print(render_signals(signals[-args.last :], inst))
        console.print(render_counts(signals))
    report_malformed(source, "text", console)
    for d in engine.disabled:
        console.print(f"[red]plugin {d.kind} disabled: {d.error}[/]")
    for p in registry.problems:
        console.print(f"[yellow]plugin {p.source}: {p.message}[/]")
    return 0


def signal_record(s: Signal, inst: Instrument) -> dict:
    """One signal as a JSON object: prices in index points, times in UTC ns."""
    rec = {
        "ts_ns": s.ts_ns,
        "kind": s.kind,
        "side": _SIDE[int(s.side)],
        "price": inst.ticks_to_points(s.price),
        "bar_start_ns": s.bar_start_ns,
        "strength": s.strength,
        "rule": s.rule,
        "action": s.action.value,
        "instrument": s.instrument,
        "inputs": s.inputs,
    }
    if s.is_entry:
        rec.update(qty=s.qty, stop_ticks=s.stop_ticks, target_ticks=s.target_ticks)
    return rec


def render_signals(signals: list[Signal], inst: Instrument) -> Table:
    table = Table(title=f"Last {len(signals)} signals")
    for col in ("time ET", "kind", "side", "price", "strength", "rule", "action"):
        table.add_column(col, justify="right" if col in ("price", "strength") else "left")
    for s in signals:
        table.add_row(ns_to_et(s.ts_ns).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], s.kind, _SIDE[int(s.side)],
                      inst.format_price(s.price), f"{s.strength:g}", s.rule, s.action.value)
    return table


def render_counts(signals: list[Signal]) -> Table:
    """Signals per kind per trading date (the session they fired in)."""
    counts: Counter[tuple[date, str]] = Counter((trading_date_of(s.ts_ns), s.kind) for s in signals)
    days = sorted({d for d, _ in counts})
    kinds = sorted({k for _, k in counts})
    table = Table(title="Signals per detector kind per session")
    table.add_column("kind")
    for d in days:
        table.add_column(d.isoformat(), justify="right")
    for k in kinds:
        table.add_row(k, *[str(counts.get((d, k), 0)) for d in days])
    return table
