"""The report folder: trades.csv, signals.csv, metrics.json, equity.png and report.html.

A backtest run and a journal both become a :class:`ReportData` first, and only that is written,
so the two reports have the same files, columns and figures. Files are written byte for byte
deterministically (fixed column order, ``\\n`` line ends, sorted breakdowns), so the same inputs
give identical ``trades.csv`` and ``metrics.json``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from tapeflow.backtest.metrics import RATIO, compute_metrics, usd
from tapeflow.backtest.multi import InstrumentRow
from tapeflow.backtest.report_html import render_html
from tapeflow.backtest.runner import BacktestResult, instrument_rows
from tapeflow.backtest.trades import Trade
from tapeflow.core.instruments import Instrument
from tapeflow.core.sessions import ns_to_et
from tapeflow.core.timeutil import ns_to_iso
from tapeflow.errors import TapeflowError
from tapeflow.trading.paper_book import FILL_MODELS
from tapeflow.trading.settings import TradingSettings

QUEUE_MODEL = (
    "a resting limit joins the back of the queue: what rests at its price when it goes live is ahead "
    "of it and must trade first (mbo: exactly those orders, less their cancels; mbp: the level's size); "
    "a print through the price fills it completely"
)
FILL_MODEL = (
    "market and stop orders walk the book for their size (best ask up to buy, best bid down to sell; "
    "without a book the last print) plus the slippage; a stop fills on the book after the print that "
    "triggered it; orders go live after the latency, measured on the tape's clock; which book each "
    "file allowed is under source.fill_model_per_file"
)

TRADE_COLUMNS = (
    "trade", "rule", "instrument", "side", "qty", "entry_time", "exit_time", "entry_time_et", "exit_time_et",
    "entry_price", "exit_price", "ticks", "gross_usd", "commission_usd", "pnl_usd", "duration_s",
    "trading_date", "segment",
)
DAY_COLUMNS = ("trading_date", "files", "events", "prints", "signals", "trades", "net_usd", "commission_usd",
               "open_at_end")
"""days.csv: one row per trading date of a date-range run (each date ran its own pipeline)."""
SIGNAL_COLUMNS = (
    "time", "time_et", "instrument", "rule", "kind", "action", "side", "price", "strength", "qty",
    "stop_ticks", "target_ticks", "decision",
)


@dataclass(frozen=True, slots=True)
class SignalRow:
    """A signal as the report lists it (price in ticks)."""

    ts_ns: int
    instrument: str
    rule: str
    kind: str
    action: str
    side: int
    price: int
    strength: float
    qty: int
    stop_ticks: int | None
    target_ticks: int | None
    decision: str = ""


@dataclass
class ReportData:
    """Everything a report shows, whatever it came from (a run or a journal)."""

    title: str
    instrument: Instrument
    trades: list[Trade]  # exit order
    signals: list[SignalRow]
    settings: dict[str, Any]
    source: dict[str, Any]
    span_ns: int | None = None
    notes: list[str] = field(default_factory=list)
    days: list[list[str]] = field(default_factory=list)  # days.csv rows (DAY_COLUMNS), date-range runs only
    instruments: list[InstrumentRow] = field(default_factory=list)  # several instruments in one account only


def settings_used(settings: TradingSettings | None, batching: tuple[int, int] | None = None,
                  roots: Sequence[str] = ()) -> dict[str, Any]:
    """The paper broker and auto-trader settings in the units a trader reads (USD, ms); with
    ``roots`` (several instruments) each one's costs, as its fills paid them."""
    if settings is None:
        return {"note": "not recorded: pass --settings with the file the session ran with"}
    p, r = settings.paper, settings.risk
    out: dict[str, Any] = {
        "latency_ms": Decimal(p.latency_ns) / 1_000_000,
        "slippage_ticks": p.slippage_ticks,
        "commission_per_side_usd": usd(p.commission_cents),
        "exchange_fee_per_side_usd": usd(p.exchange_fee_cents),
        "round_turn_cost_usd": usd(2 * p.cost_per_contract_cents),
        "fill_model": FILL_MODEL,
        "queue_model": QUEUE_MODEL,
        "entry_type": settings.auto.entry_type,
        "one_position_per_instrument": settings.auto.one_position_per_instrument,
    }
    overridden = [r for r in p.instruments if r not in roots]
    for root in [*roots, *overridden]:
        commission, fee = p.rates_for(root)
        out.setdefault("costs_per_instrument", {})[root] = {
            "commission_per_side_usd": usd(commission), "exchange_fee_per_side_usd": usd(fee),
            "round_turn_cost_usd": usd(2 * (commission + fee))}
    risk = {
        k: (str(v) if not isinstance(v, int | bool | None) else v)
        for k, v in (
            ("max_position", r.max_position),
            ("max_trades_per_day", r.max_trades_per_day),
            ("daily_loss_limit_usd", usd(r.daily_loss_limit_cents) if r.daily_loss_limit_cents else None),
            ("max_consecutive_losses", r.max_consecutive_losses),
            ("trading_windows_et", ", ".join(f"{w.start:%H:%M}-{w.end:%H:%M}" for w in r.trading_windows) or None),
            ("session_close", r.session_close),
        )
        if v is not None
    }
    out["risk"] = risk
    if batching is not None:
        out["batch_rows"], out["batch_ms"] = batching
    return out


def from_backtest(result: BacktestResult, *, title: str | None = None) -> ReportData:
    """A report of one backtest run."""
    rows = [
        SignalRow(s.signal.ts_ns, s.signal.instrument, s.signal.rule, s.signal.kind, str(s.signal.action),
                  int(s.signal.side), s.signal.price, s.signal.strength, s.signal.qty, s.signal.stop_ticks,
                  s.signal.target_ticks, s.decision)
        for s in result.signals
    ]
    notes = []
    rows_by_instrument = instrument_rows(result)
    for r in rows_by_instrument:
        if r.open_position:
            notes.append(f"{r.root}: {r.open_position:+d} contracts were still open when the data ended "
                         "(not in the trades)")
    if result.open_position and not rows_by_instrument:
        notes.append(f"{result.open_position:+d} contracts were still open when the data ended (not in the trades)")
    source = {
        "kind": "backtest",
        "files": [f.source for f in result.files],
        "fill_model_per_file": {f.source: f"{f.fill_model}: {FILL_MODELS[f.fill_model]}" for f in result.files},
        "events": result.events,
        "prints": result.prints,
        "malformed_skipped": sum(f.malformed for f in result.files),
    }  # no wall time: the report is a function of its inputs, however and wherever it ran
    delays = result.entry_delays_ns()
    if delays:
        source["entry_delay_ms_mean"] = round(sum(delays) / len(delays) / 1e6, 3)
        source["entry_delay_ms_max"] = round(max(delays) / 1e6, 3)
    if result.params:
        source["params"] = dict(result.params)
    return ReportData(
        title=title or f"Backtest {result.instrument.root}",
        instrument=result.instrument,
        trades=result.trades,
        signals=rows,
        settings=settings_used(result.settings, (result.batch_rows, result.batch_ms), list(result.open_positions)),
        source=source,
        span_ns=result.span_ns or None,
        notes=notes,
        days=[[d.day.isoformat(), str(d.files), str(d.events), str(d.prints), str(d.signals), str(d.trades),
               str(usd(d.net_cents)), str(usd(d.commission_cents)), str(d.open_position)] for d in result.days],
        instruments=rows_by_instrument,
    )


def build_metrics(data: ReportData) -> dict[str, Any]:
    """metrics.json content: the figures, then where they came from and under which settings."""
    m = compute_metrics(data.trades, span_ns=data.span_ns)
    first = data.trades[0].trip.entry_ts if data.trades else None
    last = data.trades[-1].trip.exit_ts if data.trades else None
    head = {
        "hypothetical": True,
        "instrument": "+".join(r.root for r in data.instruments) or data.instrument.root,
        "currency": "USD",
        "first_entry": ns_to_iso(first) if first is not None else None,
        "last_exit": ns_to_iso(last) if last is not None else None,
    }
    if data.instruments:
        m["per_instrument"] = per_instrument(data.instruments)
        m["contracts"] = sum(r.contracts for r in data.instruments)
        m["broker_commission"] = usd(sum(r.broker_commission_cents for r in data.instruments))
        m["exchange_fees"] = usd(sum(r.exchange_fee_cents for r in data.instruments))
    return {**head, **m, "signals": len(data.signals), "settings": data.settings, "source": data.source,
            "notes": data.notes}


def per_instrument(rows: list[InstrumentRow]) -> dict[str, dict[str, Any]]:
    """metrics.json's ``per_instrument``: each instrument's trades, win rate, net P&L and costs
    (``commissions`` is all of them: ``broker_commission`` + ``exchange_fees``, at its own rates)."""
    return {r.root: {"trades": r.trades, "wins": r.wins, "win_rate": _win_rate(r), "net_pnl": usd(r.net_cents),
                     "commissions": usd(r.commission_cents), "contracts": r.contracts,
                     "broker_commission": usd(r.broker_commission_cents), "exchange_fees": usd(r.exchange_fee_cents),
                     "cost_per_side": usd(r.cost_per_side_cents), "open_position": r.open_position} for r in rows}


def _win_rate(r: InstrumentRow) -> Decimal | None:
    return (Decimal(r.wins) / r.trades).quantize(RATIO, ROUND_HALF_EVEN) if r.trades else None


def json_default(v: Any) -> Any:
    """``json.dumps`` hook: exact Decimals become JSON numbers (cents already rounded)."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and v.as_tuple().exponent >= 0 else float(v)
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def trade_rows(data: ReportData) -> list[list[str]]:
    """trades.csv rows (strings, exact prices and USD), each price on its own instrument's grid."""
    out = []
    for i, t in enumerate(data.trades, 1):
        rt = t.trip
        out.append([
            str(i), t.rule, rt.instrument, "long" if t.is_long else "short", str(rt.qty),
            ns_to_iso(rt.entry_ts), ns_to_iso(rt.exit_ts),
            ns_to_et(rt.entry_ts).isoformat(), ns_to_et(rt.exit_ts).isoformat(),
            _price(t.inst, rt.avg_entry_ticks), _price(t.inst, rt.avg_exit_ticks), _num(t.ticks),
            str(usd(rt.gross_cents)), str(usd(rt.commission_cents)), str(usd(rt.net_cents)),
            _num(Decimal(t.duration_ns) / 1_000_000_000), rt.trading_date.isoformat(), t.segment,
        ])
    return out


def _price(inst: Instrument, ticks: Decimal) -> str:
    """Exact index price; an average of several fills may need more decimals than the grid."""
    p = ticks * inst.tick_size
    grid = Decimal(1).scaleb(-inst.price_decimals)
    if p == p.quantize(grid):
        return f"{p:.{inst.price_decimals}f}"
    return _num(p.quantize(Decimal("0.000001")))


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f")


def signal_rows(data: ReportData) -> list[list[str]]:
    inst = data.instrument
    return [
        [ns_to_iso(s.ts_ns), ns_to_et(s.ts_ns).isoformat(), s.instrument, s.rule, s.kind, s.action,
         {1: "buy", -1: "sell"}.get(s.side, "none"), inst.format_price(s.price), repr(float(s.strength)),
         str(s.qty), "" if s.stop_ticks is None else str(s.stop_ticks),
         "" if s.target_ticks is None else str(s.target_ticks), s.decision]
        for s in data.signals
    ]


def _write_csv(path: Path, header: Sequence[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_report(data: ReportData, out: str | Path) -> dict[str, Any]:
    """Write the report folder; returns the metrics."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TapeflowError(f"{out}: cannot create the report folder: {e}") from None
    metrics = build_metrics(data)
    _write_csv(out / "trades.csv", TRADE_COLUMNS, trade_rows(data))
    _write_csv(out / "signals.csv", SIGNAL_COLUMNS, signal_rows(data))
    if data.days:
        _write_csv(out / "days.csv", DAY_COLUMNS, data.days)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=json_default) + "\n", encoding="utf-8")
    from tapeflow.backtest.charts import equity_png  # matplotlib: only when a report is written

    png = equity_png(data.trades, _chart_title(data, metrics))
    (out / "equity.png").write_bytes(png)
    (out / "report.html").write_text(render_html(data, metrics, png, trade_rows(data)), encoding="utf-8")
    return metrics


def _chart_title(data: ReportData, m: dict[str, Any]) -> str:
    span = ""
    if data.trades:
        a, b = data.trades[0].trip.trading_date, data.trades[-1].trip.trading_date
        span = f", {a}" + (f" to {b}" if b != a else "")
    return (f"{data.title}{span}: {m['trades']} trades, net {_money(m['net_pnl'])}, "
            f"max drawdown {_money(m['max_drawdown'])} (hypothetical)")


def _money(v: Decimal) -> str:
    return f"{'-' if v < 0 else ''}${abs(v):,.2f}"
