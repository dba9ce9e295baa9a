"""Rithmic: one shared connection (:mod:`.session`) for the market-data feed and the broker, and
its settings (:mod:`.settings`)."""

from tapeflow.rithmic.session import FORCED_OUT_REASON, PLANTS, Phase, RithmicSession, SessionError, SessionState
from tapeflow.rithmic.settings import RithmicSettings, load_rithmic_settings, settings_from_table

__all__ = [
    "FORCED_OUT_REASON",
    "PLANTS",
    "Phase",
    "RithmicSession",
    "RithmicSettings",
    "SessionError",
    "SessionState",
    "load_rithmic_settings",
    "settings_from_table",
]
