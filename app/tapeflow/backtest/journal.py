"""Forward test: the report of what the terminal's paper mode did, read back from its journal.

The journal holds every fill (with its order id) and every order (with the rule in its tag), so
trades are rebuilt by :func:`~tapeflow.backtest.trades.attribute_trips` exactly as a backtest
builds them. All fills are replayed (positions carry across days); the date range selects the
trades by trading date of the exit, and signals by the trading date they fired on.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tapeflow.backtest.report import ReportData, SignalRow, settings_used
from tapeflow.backtest.trades import attribute_trips
from tapeflow.core.events import Side
from tapeflow.core.instruments import instrument, parse_symbol
from tapeflow.core.sessions import trading_date_of
from tapeflow.errors import TapeflowError
from tapeflow.store.journal import Journal
from tapeflow.trading.orders import Fill, Source
from tapeflow.trading.settings import TradingSettings


def _root(symbol: str) -> str:
    try:
        return parse_symbol(symbol).instrument.root
    except TapeflowError:
        return symbol


def from_journal(
    path: str | Path,
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    symbol: str | None = None,
    settings: TradingSettings | None = None,
) -> ReportData:
    """A report over the journaled trades whose trading date lies in [date_from, date_to]."""
    p = Path(path)
    if not p.is_file():
        raise TapeflowError(f"{p}: no such journal")
    j = Journal(p, durable=False)
    try:
        fills = [
            Fill(id=int(r["id"]), order_id=int(r["order_id"]), ts_ns=int(r["ts_ns"]), instrument=_root(r["instrument"]),
                 side=Side(int(r["side"])), qty=int(r["qty"]), price=int(r["price"]),
                 commission_cents=int(r["commission_cents"]), source=Source(r.get("source") or "manual"))
            for r in j.rows("fills")
        ]
        rules = {int(r["id"]): r.get("request_tag") or "" for r in j.rows("orders")}
        signal_rows = j.rows("signals")
    finally:
        j.close()
    roots = sorted({f.instrument for f in fills} | {_root(r["instrument"]) for r in signal_rows})
    root = _root(symbol) if symbol else (roots[0] if len(roots) == 1 else None)
    if root is None:
        if not roots:
            raise TapeflowError(f"{p}: the journal holds no fills and no signals")
        raise TapeflowError(f"{p}: the journal holds {', '.join(roots)}; choose one with --symbol")
    fills = [f for f in fills if f.instrument == root]

    def in_range(d: date) -> bool:
        return (date_from is None or d >= date_from) and (date_to is None or d <= date_to)

    trades = [t for t in attribute_trips(fills, rules) if in_range(t.trip.trading_date)]
    signals = [
        SignalRow(int(r["ts_ns"]), r["instrument"], r["rule"], r["kind"], r["action"], int(r["side"]), int(r["price"]),
                  float(r["strength"]), int(r.get("qty") or 1), _opt(r.get("stop_ticks")), _opt(r.get("target_ticks")))
        for r in signal_rows
        if _root(r["instrument"]) == root and in_range(trading_date_of(int(r["ts_ns"])))
    ]
    rng = f"{date_from or 'start'} to {date_to or 'end'}"
    return ReportData(
        title=f"Forward test {root} (paper journal)",
        instrument=instrument(root),
        trades=trades,
        signals=signals,
        settings=settings_used(settings),
        source={"kind": "journal", "journal": str(p), "trading_dates": rng, "fills": len(fills)},
    )


def _opt(v: object) -> int | None:
    return None if v is None or v == "" else int(v)  # type: ignore[arg-type]
