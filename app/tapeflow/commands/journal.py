"""``tapeflow journal``: today's trades and metrics from the paper journal, and CSV export.

Reads the journal the terminal writes (``journal.sqlite`` in the user data folder, or ``--path``).
``--export DIR`` writes every journal table (signals, orders, order events, fills, round trips,
risk and kill-switch events, webhook requests) to one CSV each.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tapeflow.core.sessions import ns_to_et
from tapeflow.errors import TapeflowError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("journal", help="today's trades and metrics from the paper journal; CSV export")
    p.add_argument("--path", help="journal file (default: the terminal's journal in the user data folder)")
    p.add_argument("--date", help="trading date YYYY-MM-DD (default: the last date with trades)")
    p.add_argument("--symbol", help="instrument, when the journal holds more than one")
    p.add_argument("--export", metavar="DIR", help="write every journal table to DIR/<table>.csv")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tapeflow.appdirs import app_paths
    from tapeflow.backtest.journal import from_journal
    from tapeflow.backtest.metrics import compute_metrics
    from tapeflow.store.journal import TABLES, Journal

    path = Path(args.path) if args.path else app_paths().journal_file
    if not path.is_file():
        raise TapeflowError(f"{path}: no journal yet (the terminal writes it in paper mode)")
    console = Console()
    if args.export:
        out = Path(args.export)
        out.mkdir(parents=True, exist_ok=True)
        j = Journal(path, durable=False)
        try:
            for table in TABLES:
                n = j.export_csv(table, out / f"{table}.csv")
                console.print(f"{table:>18}: {n:,} rows -> {out / (table + '.csv')}")
        finally:
            j.close()
        return 0
    data = from_journal(path, symbol=args.symbol)
    day = _pick_date(args.date, [t.trip.trading_date for t in data.trades])
    trades = [t for t in data.trades if t.trip.trading_date == day]
    console.print(_trades_table(trades, data.instrument, day))
    m = compute_metrics(trades)
    console.print(
        f"trades {m['trades']}, wins {m['wins']}, losses {m['losses']}, win rate {_pct(m['win_rate'])}, "
        f"net {_usd(m['net_pnl'])}, profit factor {m['profit_factor'] or '-'}, "
        f"max drawdown {_usd(m['max_drawdown'])}, max consecutive losses {m['max_consecutive_losses']}"
    )
    return 0


def _pick_date(text: str | None, dates: list[date]) -> date:
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise TapeflowError(f"--date {text!r}: expected a date like 2024-07-02") from None
    if not dates:
        raise TapeflowError("the journal holds no round trips yet")
    return max(dates)


def _trades_table(trades: list, inst, day: date) -> Table:
    t = Table(title=f"Round trips on {day.isoformat()} ({inst.root})")
    for col in ("entry ET", "exit ET", "side", "qty", "entry", "exit", "ticks", "net USD", "rule"):
        t.add_column(col, justify="right")
    for tr in trades:
        rt = tr.trip
        t.add_row(
            ns_to_et(rt.entry_ts).strftime("%H:%M:%S"),
            ns_to_et(rt.exit_ts).strftime("%H:%M:%S"),
            "long" if tr.is_long else "short",
            str(rt.qty),
            f"{float(rt.avg_entry_ticks) * float(inst.tick_size):.2f}",
            f"{float(rt.avg_exit_ticks) * float(inst.tick_size):.2f}",
            f"{tr.ticks:+.2f}",
            _usd(rt.net_cents / 100),
            tr.rule or "manual",
        )
    return t


def _usd(v) -> str:
    return "-" if v is None else f"${float(v):,.2f}"


def _pct(v) -> str:
    return "-" if v is None else f"{float(v):.1f}%"
