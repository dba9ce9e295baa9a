"""The public API for signal plugins: import from here, not from internal modules.

A plugin is a module in the plugins folder (or an installed package exposing the entry point group
``tapeflow.signals``) that defines :class:`Detector` subclasses. See ``plugins/README.md`` and
``plugins/large_lot.py`` for a worked example. Everything here is re-exported from
:mod:`tapeflow.signals.api` so internal modules can move without breaking plugins.
"""

from tapeflow.core.events import Side
from tapeflow.signals.api import BarView, BookView, Detector, NoParams, ParamInfo, TradeView, describe_params, param
from tapeflow.signals.model import Action, Signal

__all__ = [
    "Action",
    "BarView",
    "BookView",
    "Detector",
    "NoParams",
    "ParamInfo",
    "Side",
    "Signal",
    "TradeView",
    "describe_params",
    "param",
]
