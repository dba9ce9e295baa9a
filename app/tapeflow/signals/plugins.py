"""Plugin discovery: detector classes from a ``plugins/`` folder and from installed packages.

A plugin module defines one or more :class:`tapeflow.signals.api.Detector` subclasses with a
``kind``; an installed package exposes them (or a module holding them) under the entry point
group ``tapeflow.signals``. A plugin that fails to import is skipped with its traceback logged and
kept in ``problems`` for the UI; a plugin whose ``kind`` is already taken is skipped the same way.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from tapeflow.signals.api import Detector
from tapeflow.signals.detectors import BUILTINS

ENTRY_POINT_GROUP = "tapeflow.signals"
log = logging.getLogger("tapeflow.signals")


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """A plugin that could not be used, and why (with the traceback, when there is one)."""

    source: str  # file path or entry point name
    message: str
    traceback: str = ""


@dataclass
class Registry:
    """Detector classes by kind: the built-ins plus whatever plugins were found."""

    detectors: dict[str, type[Detector]] = field(default_factory=lambda: dict(BUILTINS))
    problems: list[PluginProblem] = field(default_factory=list)
    plugin_kinds: set[str] = field(default_factory=set)  # kinds that came from plugins

    def add_module(self, module: ModuleType, source: str) -> None:
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Detector) and obj.kind and obj.__module__ == module.__name__:
                self.add_class(obj, source)

    def add_class(self, cls: type[Detector], source: str) -> None:
        if cls.kind in self.detectors and self.detectors[cls.kind] is not cls:
            self._problem(source, f"detector kind {cls.kind!r} is already defined; plugin skipped")
            return
        self.detectors[cls.kind] = cls
        self.plugin_kinds.add(cls.kind)

    def _problem(self, source: str, message: str, tb: str = "") -> None:
        log.error("plugin %s: %s%s", source, message, f"\n{tb}" if tb else "")
        self.problems.append(PluginProblem(source, message, tb))


def load_registry(plugin_dirs: Iterable[Path | str] = (), *, use_entry_points: bool = True) -> Registry:
    """Built-ins, then every module in ``plugin_dirs``, then the ``tapeflow.signals`` entry points."""
    reg = Registry()
    for d in plugin_dirs:
        _load_folder(reg, Path(d))
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception as e:
                reg._problem(f"entry point {ep.name}", f"failed to load: {e}", traceback.format_exc())
                continue
            if isinstance(obj, ModuleType):
                reg.add_module(obj, f"entry point {ep.name}")
            elif isinstance(obj, type) and issubclass(obj, Detector):
                reg.add_class(obj, f"entry point {ep.name}")
            else:
                reg._problem(f"entry point {ep.name}", "is neither a module nor a Detector subclass")
    return reg


def _load_folder(reg: Registry, folder: Path) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        name = f"tapeflow_plugins.{path.stem}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(name, None)
            reg._problem(str(path), f"failed to import: {e}", traceback.format_exc())
            continue
        reg.add_module(module, str(path))
