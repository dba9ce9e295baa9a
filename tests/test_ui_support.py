"""Shared helpers of the UI tests (no tests here): a real session over the simulator, a shots folder.

Screenshots go to ``$TAPEFLOW_SHOTS`` when set (to look at them), else to a pytest temp dir.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from tapeflow.appdirs import app_paths
from tapeflow.ui.session import TerminalSession, build_session

SIM = "sim://open?trades=6000&seed=11&minutes=30"
"""About 15 one-minute bars around the open: big enough for every pane, fast to build."""


def make_session(home: Path, spec: str = SIM, *, speed: float | None = None, engine: bool = True) -> TerminalSession:
    return build_session(spec, app_paths(home), speed=speed, use_engine=engine)


def feed_all(session: TerminalSession) -> int:
    """Push every event of the source through the pipeline (no pacing, no event loop)."""
    n = 0
    for batch in session.source:
        session.pipeline.process(batch)
        n += len(batch)
    return n


def all_events(session: TerminalSession) -> np.ndarray:
    return np.concatenate(list(session.source))


def shot(widget, name: str, tmp_path: Path) -> Path:
    """Save ``widget.grab()`` as a PNG and return its path (checked to be non-empty)."""
    folder = Path(os.environ.get("TAPEFLOW_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert widget.grab().save(str(path)), f"could not save {path}"
    assert path.stat().st_size > 1000
    return path
