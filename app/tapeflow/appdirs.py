"""Where Tapeflow keeps a user's files, and the first run that creates them.

Why a module of its own: the GUI, the CLI and the frozen app must agree on one set of folders,
and a first start must leave a trader with commented files to edit rather than an empty
directory. :func:`ensure_first_run` is what every entry point calls at start; it creates what is
missing and never touches a file that exists, so a trader's edits survive upgrades.

Folders come from ``platformdirs`` (``~/.config/tapeflow`` and ``~/.local/share/tapeflow`` on
Linux, ``~/Library/Application Support/tapeflow`` on macOS, ``%LOCALAPPDATA%\\tapeflow`` on
Windows). ``TAPEFLOW_HOME`` puts everything under one folder instead (portable installs, tests).

Default files are package data under ``tapeflow/resources`` (so an installed wheel and the frozen
app carry them); a source checkout and the frozen app also find the repository's top-level
``resources/`` folder, which is where the rule engine's ``rules/example.toml`` lives.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import PlatformDirs

from tapeflow.errors import TapeflowError
from tapeflow.trading.settings import TradingSettings, load_settings

APP_NAME = "tapeflow"
HOME_ENV = "TAPEFLOW_HOME"
"""Environment variable: one folder for config, data, plugins and logs instead of the OS places."""

SAMPLE_SOURCE = "sim://open?minutes=20&seed=7&batch=2048"
"""What a first run opens and ``tapeflow selftest`` replays: 20 minutes of simulated ES order flow
around the RTH open (09:20-09:40 ET), which is the embedded default data (real recordings may not
be redistributed), in batches of 2,048 rows as a live feed delivers them."""

DEFAULT_SETTINGS_RESOURCE = "defaults/trading.toml"
DEFAULT_RULES_RESOURCE = "rules/example.toml"

_PACKAGE_RESOURCES = Path(__file__).resolve().parent / "resources"
_CHECKOUT_RESOURCES = Path(__file__).resolve().parents[2] / "resources"


@dataclass(frozen=True, slots=True)
class AppPaths:
    """A user's folders and files. ``created`` lists what the last first-run step wrote."""

    config_dir: Path
    data_dir: Path
    log_dir: Path
    created: tuple[Path, ...] = field(default=(), compare=False)

    @property
    def plugins_dir(self) -> Path:
        """Signal plugins: plain ``.py`` modules the rule engine loads at start."""
        return self.data_dir / "plugins"

    @property
    def settings_file(self) -> Path:
        """Trading settings (risk limits, paper costs, auto-trader), TOML."""
        return self.config_dir / "trading.toml"

    @property
    def rules_file(self) -> Path:
        """Rule definitions for the rule engine, TOML."""
        return self.config_dir / "rules.toml"

    @property
    def journal_file(self) -> Path:
        """The SQLite journal of signals, orders and fills."""
        return self.data_dir / "journal.sqlite"

    @property
    def kill_switch_file(self) -> Path:
        """The kill switch latch, which must survive a restart."""
        return self.data_dir / "kill_switch.json"

    @property
    def is_first_run(self) -> bool:
        """True when this start wrote the settings file: the GUI then opens the sample replay."""
        return self.settings_file in self.created

    def dirs(self) -> tuple[Path, ...]:
        return (self.config_dir, self.data_dir, self.plugins_dir, self.log_dir)


def app_paths(home: str | Path | None = None) -> AppPaths:
    """The folders to use: ``home`` if given, else ``$TAPEFLOW_HOME``, else the OS conventions."""
    base = home if home is not None else os.environ.get(HOME_ENV) or None
    if base is not None:
        root = Path(base).expanduser()
        return AppPaths(config_dir=root / "config", data_dir=root / "data", log_dir=root / "logs")
    dirs = PlatformDirs(APP_NAME, appauthor=False)
    return AppPaths(
        config_dir=Path(dirs.user_config_dir),
        data_dir=Path(dirs.user_data_dir),
        log_dir=Path(dirs.user_log_dir),
    )


def resource_roots() -> Iterator[Path]:
    """Folders that may hold default resources, package data first.

    The frozen app has the package data next to its bundled modules (``_internal/tapeflow/
    resources``) and the repository's ``resources/`` as ``_internal/resources`` (where
    ``tapeflow.signals.paths`` looks for the example rules too); a checkout has it at the top.
    """
    yield _PACKAGE_RESOURCES
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        yield Path(bundle) / "resources"
    else:
        yield _CHECKOUT_RESOURCES


def find_resource(name: str) -> Path | None:
    """A default resource by relative name (``"rules/example.toml"``), or ``None`` if not shipped."""
    for root in resource_roots():
        p = root / name
        if p.is_file():
            return p
    return None


def ensure_first_run(home: str | Path | None = None) -> AppPaths:
    """Create the user's folders and default files that are missing; never overwrite one.

    Writes ``trading.toml`` (commented defaults: the documented example of
    :mod:`tapeflow.trading.settings`) and ``rules.toml`` (a copy of the rule engine's commented
    example, once that ships). Raises :class:`TapeflowError` naming the folder when it cannot write.
    """
    paths = app_paths(home)
    created: list[Path] = []
    try:
        for d in paths.dirs():
            if not d.is_dir():
                d.mkdir(parents=True, exist_ok=True)
                created.append(d)
        for target, resource in (
            (paths.settings_file, DEFAULT_SETTINGS_RESOURCE),
            (paths.rules_file, DEFAULT_RULES_RESOURCE),
        ):
            src = find_resource(resource)
            if src is not None and _write_new(target, src.read_bytes()):
                created.append(target)
    except OSError as e:
        raise TapeflowError(f"{e.filename or paths.config_dir}: cannot create Tapeflow's files: {e.strerror}") from None
    return AppPaths(paths.config_dir, paths.data_dir, paths.log_dir, created=tuple(created))


def load_user_settings(paths: AppPaths) -> TradingSettings:
    """The user's trading settings; errors name the file and the key (``[risk] max_position``)."""
    return load_settings(paths.settings_file)


def _write_new(target: Path, data: bytes) -> bool:
    """Write ``data`` only if ``target`` does not exist; exclusive create, so a file that another
    start wrote a moment ago is never replaced either."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(target, "xb") as f:
            f.write(data)
    except FileExistsError:
        return False
    return True
