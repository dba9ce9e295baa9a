"""The equity curve and drawdown image (PNG), drawn headless with matplotlib's Agg canvas.

``Figure`` + ``FigureCanvasAgg`` instead of ``pyplot``: no global figure registry, no GUI backend
chosen behind our back (the terminal itself runs Qt), safe in worker processes of a sweep.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tapeflow.backtest.metrics import equity_curve
from tapeflow.backtest.trades import Trade

GREEN = "#1a9850"
RED = "#d73027"
INK = "#333333"


def equity_png(trades: Sequence[Trade], title: str) -> bytes:
    """Closed-trade equity (net USD) over trade number, with the drawdown below; PNG bytes."""
    fig = Figure(figsize=(10, 5.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    fig.suptitle(title, fontsize=11, color=INK, parse_math=False)  # "$" is money here, not TeX
    equity, dd = equity_curve(trades)
    xs = list(range(len(trades) + 1))  # 0 = before the first trade
    eq = [0.0] + [c / 100 for c in equity]  # cents -> USD for drawing only
    ddu = [0.0] + [c / 100 for c in dd]
    if trades:
        marker = "o" if len(trades) <= 200 else None
        top.plot(xs, eq, color=INK, linewidth=1.3, marker=marker, markersize=3)
        top.fill_between(xs, eq, 0, where=[v >= 0 for v in eq], interpolate=True, color=GREEN, alpha=0.18)
        top.fill_between(xs, eq, 0, where=[v < 0 for v in eq], interpolate=True, color=RED, alpha=0.18)
        bottom.fill_between(xs, ddu, 0, color=RED, alpha=0.45, linewidth=0)
        bottom.plot(xs, ddu, color=RED, linewidth=0.8)
        _mark_days(top, trades)
    else:
        top.text(0.5, 0.5, "no trades", transform=top.transAxes, ha="center", va="center", color=INK)
    top.axhline(0, color="#999999", linewidth=0.8)
    top.set_ylabel("net P&L (USD)")
    bottom.set_ylabel("drawdown (USD)")
    bottom.set_xlabel("trade number")
    bottom.set_ylim(top=0, bottom=min(ddu) * 1.1 - 1)
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (top, bottom):
        ax.grid(True, color="#e5e5e5", linewidth=0.6)
        ax.set_xlim(-0.02 * max(1, len(trades)), 1.02 * max(1, len(trades)))  # room for the end markers
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _mark_days(ax: Axes, trades: Sequence[Trade]) -> None:
    """A dotted line and the date where each trading date's first trade starts (multi-day runs)."""
    seen: date | None = None
    for i, t in enumerate(trades):
        d = t.trip.trading_date
        if d != seen:
            seen = d
            ax.axvline(i + 0.5 if i else 0, color="#aaaaaa", linestyle=":", linewidth=0.8)
            ax.annotate(d.isoformat(), (i + 0.5 if i else 0, 0.0), xycoords=("data", "axes fraction"),
                        xytext=(3, 4), textcoords="offset points", fontsize=8, color="#777777")
