"""One self-contained HTML page (inline CSS, the chart as a base64 PNG): opens anywhere, mails as is.

Every figure shown comes from the metrics dictionary that ``metrics.json`` holds, so the page and
the JSON never disagree. The CFTC Rule 4.41 notice sits at the top, before any figure.
"""

from __future__ import annotations

import base64
import html
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tapeflow.backtest.report import ReportData

CFTC_4_41 = (
    "HYPOTHETICAL OR SIMULATED PERFORMANCE RESULTS HAVE CERTAIN LIMITATIONS. UNLIKE AN ACTUAL PERFORMANCE "
    "RECORD, SIMULATED RESULTS DO NOT REPRESENT ACTUAL TRADING. ALSO, SINCE THE TRADES HAVE NOT BEEN "
    "EXECUTED, THE RESULTS MAY HAVE UNDER-OR-OVER COMPENSATED FOR THE IMPACT, IF ANY, OF CERTAIN MARKET "
    "FACTORS, SUCH AS LACK OF LIQUIDITY. SIMULATED TRADING PROGRAMS IN GENERAL ARE ALSO SUBJECT TO THE FACT "
    "THAT THEY ARE DESIGNED WITH THE BENEFIT OF HINDSIGHT. NO REPRESENTATION IS BEING MADE THAT ANY ACCOUNT "
    "WILL OR IS LIKELY TO ACHIEVE PROFIT OR LOSSES SIMILAR TO THOSE SHOWN."
)
"""The statement CFTC Rule 4.41(b)(1)(i) prescribes for hypothetical or simulated results."""

MAX_TRADE_ROWS = 1000

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#222;margin:24px auto;max-width:1100px;
padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.notice{border:2px solid #b35806;background:#fff7ec;padding:10px 14px;font-size:12px;margin:12px 0}
.muted{color:#777}table{border-collapse:collapse;margin:4px 0}td,th{padding:3px 10px;border-bottom:1px solid #eee;
text-align:right;white-space:nowrap}th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
.pos{color:#1a7a3c}.neg{color:#b2182b}.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ddd;
border-radius:6px;padding:8px 12px;min-width:120px}.card b{display:block;font-size:18px}img{max-width:100%}
.scroll{max-height:480px;overflow:auto}
"""

_HEADLINE = (
    ("net_pnl", "net P&L", "usd"), ("trades", "trades", "int"), ("win_rate", "win rate", "pct"),
    ("profit_factor", "profit factor", "num"), ("expectancy", "expectancy / trade", "usd"),
    ("max_drawdown", "max drawdown", "usd"), ("max_consecutive_losses", "max consecutive losses", "int"),
    ("commissions", "commissions paid", "usd"),
)
_DETAIL = (
    ("wins", "winners", "int"), ("losses", "losers", "int"), ("breakeven", "breakeven", "int"),
    ("avg_winner", "average winner", "usd"), ("avg_winner_ticks", "average winner (ticks)", "num"),
    ("avg_loser", "average loser", "usd"), ("avg_loser_ticks", "average loser (ticks)", "num"),
    ("expectancy_ticks", "expectancy (ticks, gross)", "num"), ("gross_pnl", "gross P&L", "usd"),
    ("largest_win", "largest winner", "usd"), ("largest_loss", "largest loser", "usd"),
    ("max_consecutive_wins", "max consecutive wins", "int"), ("contracts", "contracts traded", "int"),
    ("time_in_market_s", "time in market (s)", "num"), ("time_in_market_pct", "time in market (% of data)", "num"),
    ("avg_duration_s", "average trade duration (s)", "num"),
)
_GROUP_COLS = (("trades", "int"), ("wins", "int"), ("losses", "int"), ("win_rate", "pct"), ("net_pnl", "usd"),
               ("profit_factor", "num"), ("expectancy", "usd"), ("expectancy_ticks", "num"))


def _fmt(v: Any, kind: str) -> str:
    if v is None:
        return "–"
    if kind == "usd":
        d = Decimal(v)
        cls = "pos" if d > 0 else "neg" if d < 0 else ""
        sign = "-" if d < 0 else ""
        return f'<span class="{cls}">{sign}${abs(d):,.2f}</span>'
    if kind == "pct":
        return f"{Decimal(v) * 100:.1f}%"
    if kind == "int":
        return f"{int(v):,}"
    return html.escape(str(v))


def _kv_table(m: dict[str, Any], rows: tuple[tuple[str, str, str], ...]) -> str:
    body = "".join(f"<tr><td>{html.escape(label)}</td><td>{_fmt(m.get(k), kind)}</td></tr>" for k, label, kind in rows)
    return f"<table>{body}</table>"


_INSTRUMENT_COLS = (("trades", "int"), ("wins", "int"), ("win_rate", "pct"), ("net_pnl", "usd"),
                    ("contracts", "int"), ("broker_commission", "usd"), ("exchange_fees", "usd"),
                    ("commissions", "usd"), ("open_position", "int"))


def _group_table(groups: dict[str, dict[str, Any]], first: str,
                 cols: tuple[tuple[str, str], ...] = _GROUP_COLS) -> str:
    if not groups:
        return '<p class="muted">no trades</p>'
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c, _ in cols)
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_fmt(g.get(c), k)}</td>" for c, k in cols) + "</tr>"
        for name, g in groups.items()
    )
    return f"<table><tr><th>{html.escape(first)}</th>{head}</tr>{rows}</table>"


def _settings(s: dict[str, Any], depth: int = 0) -> str:
    rows = []
    for k, v in s.items():
        cell = _settings(v, depth + 1) if isinstance(v, dict) else html.escape(str(v))
        rows.append(f'<tr><td>{html.escape(k)}</td><td style="text-align:left;white-space:normal">{cell}</td></tr>')
    return f"<table>{''.join(rows)}</table>"


def _days_table(rows: list[list[str]]) -> str:
    """Per trading date of a date-range run (the days.csv rows)."""
    from tapeflow.backtest.report import DAY_COLUMNS

    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in DAY_COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<h2>Per trading day (one pipeline each)</h2><table><tr>{head}</tr>{body}</table>"


def render_html(data: ReportData, m: dict[str, Any], png: bytes, trade_rows: list[list[str]]) -> str:
    """The whole page as a string."""
    from tapeflow.backtest.report import TRADE_COLUMNS  # the same columns as trades.csv

    cards = "".join(
        f'<div class="card"><span class="muted">{html.escape(label)}</span><b>{_fmt(m.get(k), kind)}</b></div>'
        for k, label, kind in _HEADLINE
    )
    img = base64.b64encode(png).decode("ascii")
    per_rule = {r: s for r, s in m["per_rule"].items()}
    shown = trade_rows[:MAX_TRADE_ROWS]
    trades_head = "".join(f"<th>{html.escape(c)}</th>" for c in TRADE_COLUMNS)
    trades_body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in shown)
    more = (f'<p class="muted">first {MAX_TRADE_ROWS:,} of {len(trade_rows):,} trades; all are in trades.csv</p>'
            if len(trade_rows) > MAX_TRADE_ROWS else "")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.notes)
    span = f"{m['first_entry'] or '–'} to {m['last_exit'] or '–'} (UTC)"
    days = _days_table(data.days) if data.days else ""
    if "per_instrument" in m:  # several instruments in one account: each one's rows, then the account's
        rows = {**m["per_instrument"], "account": {k: m.get(k) for k, _ in _INSTRUMENT_COLS}}
        days = f"<h2>Per instrument (one account)</h2>{_group_table(rows, 'instrument', _INSTRUMENT_COLS)}{days}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(data.title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(data.title)}</h1>
<div class="muted">{html.escape(data.instrument.name)} ({html.escape(data.instrument.root)}), trades {span}</div>
<div class="notice"><b>CFTC Rule 4.41 notice.</b> {CFTC_4_41}</div>
<div class="cards">{cards}</div>
<h2>Equity curve and drawdown (closed trades, net of commissions)</h2>
<img alt="equity curve and drawdown" src="data:image/png;base64,{img}">
<h2>Figures</h2>{_kv_table(m, _DETAIL)}
<h2>Per rule</h2>{_group_table(per_rule, "rule")}
<h2>Long and short</h2>{_group_table(m["by_side"], "side")}
<h2>Per session segment (entry time, ET)</h2>
<p class="muted">RTH open 09:30-10:30, midday 10:30-15:00, RTH close 15:00-16:00, ETH the rest.</p>
{_group_table(m["by_segment"], "segment")}
<h2>Per hour of day (entry time, ET)</h2>{_group_table(m["by_hour_et"], "hour")}
{days}<h2>Settings used</h2>{_settings(data.settings)}
<h2>Source</h2>{_settings(data.source)}{f"<ul>{notes}</ul>" if notes else ""}
<h2>Trades</h2><div class="scroll"><table><tr>{trades_head}</tr>{trades_body}</table></div>{more}
<p class="muted">{len(data.signals):,} signals; the list is in signals.csv.</p>
<div class="notice">{CFTC_4_41}</div>
</body></html>
"""
