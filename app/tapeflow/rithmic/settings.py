"""Rithmic connection settings: the ``[rithmic]`` table of ``trading.toml``, env overrides.

Why settings and not constants: the app name is what Rithmic's conformance step approves (a
production app name only logs into live systems after that), and the system/gateway differ
between Rithmic Test, Rithmic Paper Trading and a broker's live system. Credentials are never
here: they come from the environment or the keyring (``tapeflow.feeds.live_credentials``)::

    [rithmic]
    app_name = "tapeflow"             # the name your conformance was approved under
    app_version = "0.1.0"             # default: Tapeflow's version
    system = "Rithmic Test"           # env RITHMIC_SYSTEM overrides
    url = "rituz00100.rithmic.com:443" # gateway host:port; env RITHMIC_URL overrides
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tapeflow import __version__
from tapeflow.errors import TapeflowError

DEFAULT_SYSTEM = "Rithmic Test"
DEFAULT_URL = "rituz00100.rithmic.com:443"
_KEYS = ("app_name", "app_version", "system", "url")


@dataclass(frozen=True, slots=True)
class RithmicSettings:
    """What the client logs in with, besides the credentials."""

    app_name: str = "tapeflow"
    app_version: str = __version__
    system_name: str = DEFAULT_SYSTEM
    url: str = DEFAULT_URL


def settings_from_table(table: Any, path: str = "<settings>", env: Mapping[str, str] | None = None) -> RithmicSettings:
    """Validate a ``[rithmic]`` table (None: absent) and apply ``RITHMIC_SYSTEM``/``RITHMIC_URL``."""
    env = os.environ if env is None else env
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise TapeflowError(f"{path}: [rithmic] must be a table")
    values: dict[str, str] = {}
    for key, value in table.items():
        where = f"{path}: [rithmic] {key}"
        if key not in _KEYS:
            raise TapeflowError(f"{where}: unknown key (known: {', '.join(_KEYS)})")
        if not isinstance(value, str) or not value.strip():
            raise TapeflowError(f"{where}: expected a non-empty string, got {value!r}")
        values[key] = value.strip()
    for key, var in (("system", "RITHMIC_SYSTEM"), ("url", "RITHMIC_URL")):
        if env.get(var, "").strip():
            values[key] = env[var].strip()
    defaults = RithmicSettings()
    return RithmicSettings(
        app_name=values.get("app_name", defaults.app_name),
        app_version=values.get("app_version", defaults.app_version),
        system_name=values.get("system", defaults.system_name),
        url=values.get("url", defaults.url),
    )


def load_rithmic_settings(path: str | Path | None, env: Mapping[str, str] | None = None) -> RithmicSettings:
    """``[rithmic]`` of a settings file (a missing file or table: the defaults, then env)."""
    if path is None or not Path(path).is_file():
        return settings_from_table(None, env=env)
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise TapeflowError(f"{p}: {e}") from None
    return settings_from_table(data.get("rithmic"), p.name, env)
