"""Axis labels at the UI edge: bar index -> ET time of the bar's start, ticks -> exchange price."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from tapeflow.core.instruments import Instrument
from tapeflow.ui.text import et_time

MIN_LABEL_PX = 64.0
BAR_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 240, 480, 960)


class BarTimeAxis(pg.AxisItem):
    """x is a bar index (bars are evenly spaced whatever their duration); labels show ET start time."""

    def __init__(self, orientation: str = "bottom") -> None:
        super().__init__(orientation)
        self.start_ns = np.zeros(0, np.int64)

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        """Whole bars only, and far enough apart that ``HH:MM`` labels never overlap."""
        span = max(1e-9, maxVal - minVal)
        px_per_bar = size / span
        need = MIN_LABEL_PX / max(px_per_bar, 1e-9)
        step = next((s for s in BAR_STEPS if s >= need), BAR_STEPS[-1])
        return [(float(step), 0.0)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        out = []
        n = len(self.start_ns)
        for v in values:
            i = round(v)
            out.append(et_time(int(self.start_ns[i]))[:5] if 0 <= i < n and abs(v - i) < 1e-6 else "")
        return out


class PriceAxis(pg.AxisItem):
    """y is ticks; labels are prices (``5500.25``)."""

    def __init__(self, instrument: Instrument, orientation: str = "left") -> None:
        super().__init__(orientation)
        self.instrument = instrument

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        return [self.instrument.format_price(round(v)) if abs(v - round(v)) < 1e-6 else "" for v in values]

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - pyqtgraph API
        """Whole ticks only: at least one tick between labels, so every label is a real price."""
        levels = super().tickSpacing(minVal, maxVal, size)
        return [(max(1.0, round(s)), o) for s, o in levels]
