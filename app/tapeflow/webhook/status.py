"""Read-only status for a phone: position, P&L, limits, automation, kill switch, last alerts.

Built from the account's immutable snapshot and the server's alert history, as plain JSON, and
as one small HTML page (no scripts from elsewhere, escapes everything a sender could have typed,
refreshes itself every few seconds). Money is shown in USD, prices in index points.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from tapeflow.core.instruments import INSTRUMENTS
from tapeflow.core.timeutil import ns_to_iso
from tapeflow.trading.snapshot import AccountSnapshot
from tapeflow.webhook.outcome import WebhookRequest

REFRESH_SECONDS = 5


def usd(cents: int) -> str:
    """Cents as ``-$1,234.50``."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def _price(root: str, ticks: Decimal | int | None) -> str | None:
    if ticks is None:
        return None
    inst = INSTRUMENTS.get(root)
    if inst is None:
        return str(ticks)
    return f"{(Decimal(ticks) * inst.tick_size).quantize(Decimal('0.01')):f}"


def build_status(
    snap: AccountSnapshot,
    history: Iterable[WebhookRequest],
    counts: Mapping[str, int],
    *,
    now_ns: int,
    started_ns: int,
    instruments: Iterable[str],
) -> dict[str, Any]:
    """The JSON status document (also what the HTML page shows)."""
    return {
        "time": ns_to_iso(now_ns),
        "tape_time": ns_to_iso(snap.ts_ns) if snap.ts_ns else None,
        "uptime_s": round((now_ns - started_ns) / 1e9, 1),
        "account": snap.account,
        "instruments": sorted(instruments),
        "trading_state": str(snap.state),
        "state_rule": snap.state_rule,
        "kill_switch": {
            "latched": snap.kill_switch_latched,
            "by": snap.kill_switch_by,
            "reason": snap.kill_switch_reason,
            "persisted": snap.kill_switch_persisted,  # False: latched in memory only, not on disk
            "save_error": snap.kill_switch_save_error,
        },
        "journal": {"errors": snap.journal_errors, "last_error": snap.journal_error},
        "alarms": snap.alarms(),
        "automation": dict(snap.automation),
        "positions": [
            {
                "instrument": p.instrument,
                "qty": p.qty,
                "avg_price": _price(p.instrument, p.avg_price_ticks),
                "mark": _price(p.instrument, p.mark_ticks),
                "unrealized_usd": usd(p.unrealized_cents),
            }
            for p in snap.positions
            if p.qty != 0
        ],
        "pnl": {
            "realized_today_usd": usd(snap.realized_today_cents),
            "unrealized_usd": usd(snap.unrealized_cents),
            "day_usd": usd(snap.day_pnl_cents),
        },
        "trades_today": snap.trades_today,
        "working_orders": snap.working_orders,
        "limits": [
            {"rule": g.rule, "used": g.used, "limit": g.limit, "unit": g.unit} for g in snap.limits
        ],
        "last_reject": snap.last_reject,
        "alerts": {"counts": dict(counts), "last": [_alert_row(r) for r in reversed(list(history))]},
    }


def _alert_row(r: WebhookRequest) -> dict[str, Any]:
    return {
        "time": ns_to_iso(r.ts_ns)[:23] + "Z",
        "client": r.client,
        "status": r.status,
        "code": r.code,
        "action": r.action,
        "symbol": r.symbol,
        "quantity": r.quantity,
        "alert": r.alert,
        "order_id": r.order_id,
        "rule": r.rule,
        "reason": r.reason,
    }


_CSS = (
    "body{font:15px system-ui,sans-serif;margin:0;padding:12px;background:#111;color:#eee}"
    "h1{font-size:18px;margin:0 0 8px}h2{font-size:15px;margin:16px 0 6px;color:#aaa}"
    "table{border-collapse:collapse;width:100%}td,th{padding:4px 6px;border-bottom:1px solid #333;"
    "text-align:left;font-size:13px}.bad{color:#f66}.ok{color:#6d6}.big{font-size:22px;font-weight:600}"
    ".latched{background:#700;padding:8px;border-radius:6px}"
    ".alarm{background:#c00;color:#fff;font-weight:700;padding:10px;border:3px solid #ff0;border-radius:6px}"
)


def render_html(status: Mapping[str, Any]) -> str:
    """A self-contained page (inline CSS, no scripts) that fits a phone screen."""
    e = html.escape
    ks = status["kill_switch"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<meta http-equiv='refresh' content='{REFRESH_SECONDS}'>",
        "<meta name='referrer' content='no-referrer'>",
        f"<title>Tapeflow webhook</title><style>{_CSS}</style></head><body>",
        f"<h1>Tapeflow · {e(status['account'])} · {e(', '.join(status['instruments']) or '-')}</h1>",
    ]
    parts += [f"<p class='alarm'>{e(text)}</p>" for text in status["alarms"]]  # above all else
    if ks["latched"]:
        parts.append(f"<p class='latched'>KILL SWITCH LATCHED by {e(ks['by'])}: {e(ks['reason'])}</p>")
    day = status["pnl"]["day_usd"]
    parts.append(f"<p class='big {'bad' if day.startswith('-') else 'ok'}'>Day P&amp;L {e(day)}</p>")
    parts.append(
        f"<p>state {e(status['trading_state'])} {e(status['state_rule'])} · trades today "
        f"{status['trades_today']} · working orders {status['working_orders']}</p>"
    )
    auto = " · ".join(f"{e(k)} {'on' if v else 'OFF'}" for k, v in status["automation"].items())
    parts.append(f"<p>automation: {auto}</p>")
    parts.append("<h2>Positions</h2><table><tr><th>instr</th><th>qty</th><th>avg</th><th>mark</th>")
    parts.append("<th>open P&amp;L</th></tr>")
    for p in status["positions"] or []:
        parts.append(
            f"<tr><td>{e(p['instrument'])}</td><td>{p['qty']:+d}</td><td>{e(str(p['avg_price']))}</td>"
            f"<td>{e(str(p['mark']))}</td><td>{e(p['unrealized_usd'])}</td></tr>"
        )
    if not status["positions"]:
        parts.append("<tr><td colspan='5'>flat</td></tr>")
    parts.append("</table><h2>Limits</h2><table>")
    for g in status["limits"]:
        parts.append(f"<tr><td>{e(g['rule'])}</td><td>{g['used']:,} / {g['limit']:,} {e(g['unit'])}</td></tr>")
    if not status["limits"]:
        parts.append("<tr><td>no limits set</td></tr>")
    parts.append("</table><h2>Last alerts</h2><table><tr><th>time</th><th>alert</th><th>outcome</th></tr>")
    for a in status["alerts"]["last"]:
        what = " ".join(str(x) for x in (a["action"], a["symbol"], a["quantity"] or "") if x)
        outcome = f"{a['status']} {a['code']}" + (f" #{a['order_id']}" if a["order_id"] else "")
        if a["reason"]:
            outcome += f": {a['reason']}"
        cls = "ok" if a["status"] == 200 else "bad"
        parts.append(
            f"<tr><td>{e(a['time'][11:19])}</td><td>{e(what)}</td><td class='{cls}'>{e(outcome)}</td></tr>"
        )
    parts.append(f"</table><p style='color:#777'>updated {e(status['time'][:19])}Z · read-only</p></body></html>")
    return "".join(parts)
