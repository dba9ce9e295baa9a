"""Where the rule engine plugs into the terminal (guarded, so the window opens without it).

Why guarded: the engine (``tapeflow.signals.engine``) and the user's rules file can fail on their
own (a typo in ``rules.toml``, a plugin that does not import); the terminal must still open and
say why in the signal log. Zones come from ``RuleEngine.active_zones()`` and are converted
duck-typed, so the overlay never depends on the zone record's module layout.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from tapeflow.core.instruments import Instrument
from tapeflow.errors import TapeflowError
from tapeflow.ui.highlight_item import Band, bands_from_zones

NO_ENGINE_NOTE = "No rule engine in this build (tapeflow.signals.engine): no signals will be listed."


def default_rules_file(user_rules: Path | None) -> Path | None:
    """The user's rules file if it exists, else the shipped example (None if neither is found)."""
    if user_rules is not None and user_rules.is_file():
        return user_rules
    try:
        from tapeflow.signals.paths import default_rules_path

        return default_rules_path()
    except (ImportError, TapeflowError):
        return None


def make_engine(instrument: Instrument, rules_file: Path | None,
                plugins_dir: Path | None = None) -> tuple[Any | None, str]:
    """(engine or None, note for the signal log). A failure to build it is a note, not a crash."""
    try:
        module = importlib.import_module("tapeflow.signals.engine")
    except ImportError:
        return None, NO_ENGINE_NOTE
    build = getattr(module, "engine_from_file", None)
    if build is None:
        return None, NO_ENGINE_NOTE
    if rules_file is None:
        return None, "No rules file found: create rules.toml in the config folder to get signals."
    try:
        plugins = plugins_dir if plugins_dir is not None and plugins_dir.is_dir() else None
        return build(rules_file, instrument=instrument, plugins_dir=plugins), ""
    except TapeflowError as e:
        return None, f"Rules not loaded: {e}"
    except Exception as e:
        return None, f"Rule engine not started: {type(e).__name__}: {e}"


def engine_bands(engine: Any | None) -> tuple[Band, ...]:
    """Zones the engine is watching, as bands for the footprint overlay (empty without an engine)."""
    zones = getattr(engine, "active_zones", None) or getattr(engine, "zones", None)
    if not callable(zones):
        return ()
    try:
        return bands_from_zones(list(zones()))
    except Exception:
        return ()
