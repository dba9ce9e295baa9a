"""Read-only arrays for what the flow state hands out (snapshots, series), so no reader can
change the state through them."""

from __future__ import annotations

import numpy as np


def sealed(a: np.ndarray) -> np.ndarray:
    """``a`` itself, marked read-only (pass a copy or a view when ``a`` must stay writable)."""
    a.flags.writeable = False
    return a
