"""The built-in detectors, by kind."""

from __future__ import annotations

from tapeflow.signals.api import Detector
from tapeflow.signals.detectors.absorption import Absorption
from tapeflow.signals.detectors.auction import UnfinishedAuction, ZeroPrint
from tapeflow.signals.detectors.divergence import DeltaDivergence
from tapeflow.signals.detectors.imbalance import DiagonalImbalance, StackedImbalance
from tapeflow.signals.detectors.poc import PocRejection, VolumeNodeBreakout
from tapeflow.signals.detectors.thresholds import BarDeltaCross, BarVolumeCross, CumDeltaCross, VwapCross

BUILTINS: dict[str, type[Detector]] = {
    d.kind: d
    for d in (
        DiagonalImbalance,
        StackedImbalance,
        Absorption,
        UnfinishedAuction,
        ZeroPrint,
        PocRejection,
        VolumeNodeBreakout,
        DeltaDivergence,
        CumDeltaCross,
        BarDeltaCross,
        BarVolumeCross,
        VwapCross,
    )
}
"""Every built-in detector class by its ``kind``."""
