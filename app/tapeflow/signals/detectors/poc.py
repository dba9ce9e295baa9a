"""POC rejection and volume-node breakout: how price behaves at the session's volume landmarks.

Both compare a bar with the landmarks as they stood *before* the bar (the developing POC and
high-volume nodes at the previous bar close, and the prior session's), so a bar cannot reject
a POC it created itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from tapeflow.core.events import Side
from tapeflow.signals.api import BarView, Detector, LevelsSource, param, rounded

REFERENCES = ("both", "developing", "prior")


@dataclass(frozen=True)
class PocRejectionParams:
    reference: str = param("both", "which POC: developing, prior (session) or both", choices=REFERENCES)
    tolerance: int = param(1, "ticks short of the POC that still count as a test", min=0)
    min_close_away: int = param(2, "ticks the close must end away from the POC", min=1)
    volume_decline: float = param(1.0, "bar volume must be below this x the previous bar's", min=0.0)


class _LevelsMemory(Detector):
    """Remembers the session levels as they stood at the previous bar close (same session).

    A subclass says what a bar shows in ``_find(view, bar, before)``, a pure function of the bar,
    its history and the levels, so it is worked out once per bar, ahead of the close when the feed
    is idle (``prepare_bar``); ``on_bar`` then only remembers the levels and emits."""

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._before: LevelsSource | None = None
        self._session = -1
        self._closes = 0  # bars closed so far: what a prepared decision was made against

    def prepare_bar(self, view: BarView) -> None:
        self._decide(view)

    def on_bar(self, view: BarView) -> None:
        found = self._decide(view)
        self._session, self._before = view.bar()["session"], view.levels_source
        self._closes += 1
        self.emit_found(view, found)

    def _decide(self, view: BarView) -> list[tuple[Side, int, float, dict]]:
        def find() -> list[tuple[Side, int, float, dict]]:
            b = view.bar()
            before = self._before if b["session"] == self._session else None  # None at a session's first bar
            return self._find(view, b, before)

        return view.remember((self.kind, self.params, self._closes), find)

    def _find(self, view: BarView, b: dict, before: LevelsSource | None) -> list[tuple[Side, int, float, dict]]:
        raise NotImplementedError


class PocRejection(_LevelsMemory):
    """A bar that comes from one side, tests the POC and closes back away from it on less volume.

    From above (BUY): open > POC, low <= POC + tolerance, close >= POC + min_close_away.
    From below (SELL): mirror. Strength: previous bar volume / this bar volume.
    """

    kind = "poc_rejection"
    Params = PocRejectionParams
    summary = "price tests the developing or prior POC and fails on declining volume"

    def _find(self, view: BarView, b: dict, before: LevelsSource | None) -> list[tuple[Side, int, float, dict]]:
        p = self.params
        src = view.levels_source
        recent = view.history(1)
        if len(recent) < 2:
            return []
        prev_vol = recent[0]["volume"]
        if b["volume"] >= p.volume_decline * prev_vol:
            return []
        refs: list[tuple[str, int]] = []
        if p.reference in ("both", "developing") and before is not None:
            poc_before = before.poc()
            if poc_before is not None:
                refs.append(("developing", poc_before))
        if p.reference in ("both", "prior") and src.prior is not None:
            refs.append(("prior", src.prior.poc))
        for name, poc in refs:
            if b["open"] > poc and b["low"] <= poc + p.tolerance and b["close"] >= poc + p.min_close_away:
                side = Side.BUY
            elif b["open"] < poc and b["high"] >= poc - p.tolerance and b["close"] <= poc - p.min_close_away:
                side = Side.SELL
            else:
                continue
            return [(side, poc, rounded(prev_vol / max(b["volume"], 1)),
                     {"reference": name, "poc": poc, "volume": b["volume"], "prev_volume": prev_vol,
                      "close": b["close"]})]
        return []


@dataclass(frozen=True)
class NodeBreakoutParams:
    node_ticks: int = param(2, "half-width of a high-volume node, ticks", min=0)
    min_delta: int = param(100, "bar delta (contracts) in the breakout direction", min=0)
    min_delta_ratio: float = param(0.25, "bar delta / bar volume in the breakout direction", min=0.0, max=1.0)
    reference: str = param("both", "nodes of the developing session, the prior one or both", choices=REFERENCES)


class VolumeNodeBreakout(_LevelsMemory):
    """A bar that opens inside a high-volume node and closes beyond it with strong delta."""

    kind = "volume_node_breakout"
    Params = NodeBreakoutParams
    summary = "price leaves a high-volume node with strong delta"

    def on_idle(self) -> None:
        """The developing nodes as of the last close are a scan of the whole session profile: do it
        now rather than at the next close, whose breakout check needs them."""
        if self.params.reference != "prior" and self._before is not None:
            self._before.hvn()

    def _find(self, view: BarView, b: dict, before: LevelsSource | None) -> list[tuple[Side, int, float, dict]]:
        p = self.params
        src = view.levels_source
        delta, vol, w = b["delta"], max(b["volume"], 1), p.node_ticks
        up = delta >= p.min_delta and delta / vol >= p.min_delta_ratio
        down = -delta >= p.min_delta and -delta / vol >= p.min_delta_ratio
        if not (up or down):  # no breakout whatever the nodes: skip computing them
            return []
        nodes = list(before.hvn()) if p.reference != "prior" and before is not None else []
        if p.reference != "developing" and src.prior is not None:
            nodes += list(src.prior.hvn)
        for node in sorted(nodes, key=lambda h: abs(h - b["open"])):
            if not node - w <= b["open"] <= node + w:
                continue
            if b["close"] > node + w and up:
                side = Side.BUY
            elif b["close"] < node - w and down:
                side = Side.SELL
            else:
                continue
            inputs = {"node": node, "delta": delta, "volume": b["volume"]}
            return [(side, b["close"], rounded(abs(delta) / vol), inputs)]
        return []
