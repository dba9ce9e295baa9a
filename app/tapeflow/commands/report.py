"""``tapeflow report --journal PATH [--from DATE --to DATE] --out DIR``: the forward-test report.

The same report folder as ``tapeflow backtest`` (trades.csv, signals.csv, metrics.json,
equity.png, report.html), built from what the terminal's paper mode journaled.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from rich.console import Console

from tapeflow.errors import TapeflowError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="performance report of paper trading, from the journal (forward test)")
    p.add_argument("--journal", required=True, help="journal file (SQLite) the terminal wrote")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first trading date, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last trading date, YYYY-MM-DD")
    p.add_argument("--out", default="forward_report", help="report folder (default ./forward_report)")
    p.add_argument("--symbol", help="instrument, when the journal holds more than one")
    p.add_argument("--settings", help="trading settings the session ran with (shown in the report)")
    p.set_defaults(func=run)


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise TapeflowError(f"{flag} {text!r}: expected a date like 2024-07-02") from None


def run(args: argparse.Namespace) -> int:
    # imported here: matplotlib costs a second that other commands should not pay
    from tapeflow.backtest.journal import from_journal
    from tapeflow.backtest.report import write_report
    from tapeflow.trading.settings import load_settings

    d0, d1 = _date(args.date_from, "--from"), _date(args.date_to, "--to")
    if d0 and d1 and d1 < d0:
        raise TapeflowError(f"--to {d1} is before --from {d0}")
    settings = load_settings(args.settings) if args.settings else None
    data = from_journal(args.journal, date_from=d0, date_to=d1, symbol=args.symbol, settings=settings)
    out = Path(args.out)
    m = write_report(data, out)
    Console(stderr=True).print(
        f"{m['trades']} trades, net ${m['net_pnl']}, profit factor {m['profit_factor'] or '-'}, "
        f"max drawdown ${m['max_drawdown']}; report: {out / 'report.html'}"
    )
    return 0
