"""Per-user UI settings and layout, in an INI file in the platform's config dir.

Why QSettings in INI form at an explicit path: the dock layout is Qt's own ``saveState`` blob,
and an explicit file (not the registry or a plist) is easy to find, back up and delete; tests
point it at a temp dir.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6 import QtCore

MAX_RECENT = 8


class UiSettingsStore:
    """Window geometry and dock layout, theme, pane options, recent files."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.q = QtCore.QSettings(str(self.path), QtCore.QSettings.Format.IniFormat)

    def get(self, key: str, default=None):
        v = self.q.value(key, default)
        return default if v is None else v

    def get_json(self, key: str, default: dict | list) -> dict | list:
        raw = self.q.value(key)
        if not raw:
            return default
        try:
            return json.loads(str(raw))
        except ValueError:
            return default

    def set(self, key: str, value) -> None:
        self.q.setValue(key, value)

    def set_json(self, key: str, value: dict | list) -> None:
        self.q.setValue(key, json.dumps(value))

    def bytes(self, key: str) -> QtCore.QByteArray | None:
        v = self.q.value(key)
        return v if isinstance(v, QtCore.QByteArray) else None

    def recent_files(self) -> list[str]:
        return [str(x) for x in self.get_json("recent_files", [])]

    def add_recent(self, spec: str) -> None:
        items = [spec, *[x for x in self.recent_files() if x != spec]][:MAX_RECENT]
        self.set_json("recent_files", items)

    def sync(self) -> None:
        self.q.sync()
