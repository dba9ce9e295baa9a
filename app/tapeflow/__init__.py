"""Tapeflow: an order-flow terminal for CME E-mini futures scalpers.

The core (feeds, flow, signals, trading, webhook, store, backtest) never imports Qt;
``tapeflow.ui`` is a thin view over it.
"""

__version__ = "0.1.0"
