"""Where the shipped rules file and the plugins folder are, for a source checkout or an install.

One copy of ``resources/rules/example.toml`` lives at the top of the repository (the backtest and
the CLI default to it). Lookup order: ``$TAPEFLOW_RULES``; ``resources/rules/`` found by walking up
from this package (source checkout, editable install); a frozen app's bundle dir
(``sys._MEIPASS``); ``<prefix>/share/tapeflow/rules`` (a wheel installed with data files).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tapeflow.errors import TapeflowError

EXAMPLE_RULES = "example.toml"


def _candidates(*parts: str) -> list[Path]:
    here = Path(__file__).resolve()
    out = [p.joinpath(*parts) for p in here.parents]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        out.append(Path(bundle).joinpath(*parts))
    out.append(Path(sys.prefix, "share", "tapeflow").joinpath(*parts[1:]))
    return out


def default_rules_path() -> Path:
    """The rules file used when the user names none (``resources/rules/example.toml``)."""
    env = os.environ.get("TAPEFLOW_RULES")
    if env:
        return Path(env)
    tried = _candidates("resources", "rules", EXAMPLE_RULES)
    for p in tried:
        if p.is_file():
            return p
    raise TapeflowError(f"default rules file {EXAMPLE_RULES} not found (looked in {tried[0].parent} and up)")


def default_plugins_dir() -> Path | None:
    """The repository's ``plugins/`` folder, when there is one (``$TAPEFLOW_PLUGINS`` overrides)."""
    env = os.environ.get("TAPEFLOW_PLUGINS")
    if env:
        return Path(env)
    for p in _candidates("plugins"):
        if p.is_dir() and (p / "README.md").exists():
            return p
    return None
