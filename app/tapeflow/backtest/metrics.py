"""Performance figures of a list of trades, exact: sums in integer cents, ratios in ``Decimal``.

Money is summed in cents and only divided (and rounded half-even to the cent) at the end, so a
report never shows a float rounding artefact and two runs over the same trades agree to the cent.
Drawdown is measured on the closed-trade equity curve (net of commissions) from its running peak,
starting at 0: what the account balance did, not intra-trade heat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tapeflow.backtest.trades import SEGMENT_NAMES, Trade

CENT = Decimal("0.01")
RATIO = Decimal("0.0001")
NS_PER_S = 1_000_000_000


def usd(cents: int | Decimal) -> Decimal:
    """Cents to USD, rounded half-even to the cent."""
    return (Decimal(cents) / 100).quantize(CENT, ROUND_HALF_EVEN)


def _ratio(a: int | Decimal, b: int | Decimal) -> Decimal | None:
    return (Decimal(a) / Decimal(b)).quantize(RATIO, ROUND_HALF_EVEN) if b else None


def equity_curve(trades: Sequence[Trade]) -> tuple[list[int], list[int]]:
    """Closed-trade equity after each trade and its drawdown from the running peak (cents, <= 0)."""
    equity: list[int] = []
    drawdown: list[int] = []
    cum = peak = 0
    for t in trades:
        cum += t.net_cents
        peak = max(peak, cum)
        equity.append(cum)
        drawdown.append(cum - peak)
    return equity, drawdown


def _streak(trades: Sequence[Trade], losing: bool) -> int:
    best = run = 0
    for t in trades:
        hit = t.net_cents < 0 if losing else t.net_cents > 0
        run = run + 1 if hit else 0
        best = max(best, run)
    return best


def trade_stats(trades: Sequence[Trade]) -> dict[str, Any]:
    """The headline figures of one set of trades (in exit order). USD as ``Decimal``."""
    n = len(trades)
    winners = [t for t in trades if t.net_cents > 0]
    losers = [t for t in trades if t.net_cents < 0]
    won = sum(t.net_cents for t in winners)
    lost = -sum(t.net_cents for t in losers)
    net = sum(t.net_cents for t in trades)
    _, dd = equity_curve(trades)
    in_market_ns = sum(t.duration_ns for t in trades)
    return {
        "trades": n,
        "wins": len(winners),
        "losses": len(losers),
        "breakeven": n - len(winners) - len(losers),
        "win_rate": _ratio(len(winners), n),
        "avg_winner": usd(Decimal(won) / len(winners)) if winners else None,
        "avg_loser": usd(Decimal(-lost) / len(losers)) if losers else None,
        "avg_winner_ticks": _mean_ticks(winners),
        "avg_loser_ticks": _mean_ticks(losers),
        "profit_factor": _ratio(won, lost),
        "gross_profit": usd(won),
        "gross_loss": usd(-lost),
        "gross_pnl": usd(sum(t.trip.gross_cents for t in trades)),
        "commissions": usd(sum(t.trip.commission_cents for t in trades)),
        "net_pnl": usd(net),
        "expectancy": usd(Decimal(net) / n) if n else None,
        "expectancy_ticks": _mean_ticks(trades),
        "largest_win": usd(max((t.net_cents for t in winners), default=0)),
        "largest_loss": usd(min((t.net_cents for t in losers), default=0)),
        "max_drawdown": usd(-min(dd, default=0)),
        "max_consecutive_wins": _streak(trades, losing=False),
        "max_consecutive_losses": _streak(trades, losing=True),
        "contracts": sum(t.trip.qty for t in trades),
        "time_in_market_s": (Decimal(in_market_ns) / NS_PER_S).quantize(Decimal("0.001")),
        "avg_duration_s": (Decimal(in_market_ns) / NS_PER_S / n).quantize(Decimal("0.001")) if n else None,
    }


def _mean_ticks(trades: Sequence[Trade]) -> Decimal | None:
    if not trades:
        return None
    return (sum((t.ticks for t in trades), Decimal(0)) / len(trades)).quantize(RATIO, ROUND_HALF_EVEN)


def _compact(trades: Sequence[Trade]) -> dict[str, Any]:
    s = trade_stats(trades)
    keys = ("trades", "wins", "losses", "win_rate", "net_pnl", "profit_factor", "expectancy", "expectancy_ticks")
    return {k: s[k] for k in keys}


def _group(trades: Sequence[Trade], key: Callable[[Trade], str], order: Sequence[str] = ()) -> dict[str, Any]:
    groups: dict[str, list[Trade]] = {k: [] for k in order}
    for t in trades:
        groups.setdefault(key(t), []).append(t)
    names = list(order) + sorted(k for k in groups if k not in order)
    return {k: _compact(groups[k]) for k in names}


def compute_metrics(trades: Sequence[Trade], *, span_ns: int | None = None) -> dict[str, Any]:
    """Headline figures plus per-rule, per-side, per-hour (ET) and per-segment breakdowns.

    ``span_ns``: market time the test covered, for time in market as a share of it.
    """
    out = trade_stats(trades)
    in_market = sum(t.duration_ns for t in trades)
    out["time_in_market_pct"] = _ratio(Decimal(in_market) * 100, span_ns) if span_ns else None
    out["per_rule"] = {k: trade_stats(v) for k, v in _by(trades, lambda t: t.rule).items()}
    out["by_side"] = _group(trades, lambda t: "long" if t.is_long else "short", ("long", "short"))
    out["by_hour_et"] = _group(trades, lambda t: f"{t.entry_hour_et:02d}")
    out["by_segment"] = _group(trades, lambda t: t.segment, SEGMENT_NAMES)
    return out


def _by(trades: Sequence[Trade], key: Callable[[Trade], str]) -> dict[str, list[Trade]]:
    out: dict[str, list[Trade]] = {}
    for t in trades:
        out.setdefault(key(t), []).append(t)
    return dict(sorted(out.items()))
