"""Cumulative delta across bars and sessions, with a configurable reset rule."""

from __future__ import annotations

from enum import StrEnum

import numpy as np


class CumReset(StrEnum):
    """When cumulative delta starts again from zero."""

    SESSION = "session"  # at each Globex session open (18:00 ET); the usual choice
    RTH = "rth"  # at each session open and again at the 09:30 ET RTH open
    NEVER = "never"  # one running total over the whole series


def reset_key(session: int, end_ns: int, rth_open_ns: int, rule: CumReset) -> int:
    """The segment a bar belongs to; cumulative delta restarts whenever this changes."""
    if rule is CumReset.NEVER:
        return 0
    if rule is CumReset.SESSION:
        return session
    return session * 2 + (1 if end_ns >= rth_open_ns else 0)


def reset_keys(
    session: np.ndarray, end_ns: np.ndarray, rth_open_ns: np.ndarray, rule: CumReset
) -> np.ndarray:
    """Vectorized :func:`reset_key`."""
    if rule is CumReset.NEVER:
        return np.zeros(len(session), np.int64)
    if rule is CumReset.SESSION:
        return session.astype(np.int64)
    return session.astype(np.int64) * 2 + (end_ns >= rth_open_ns)


def cumulative_delta(delta: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Running sum of ``delta`` that restarts where ``keys`` changes (int64, exact)."""
    if len(delta) == 0:
        return np.zeros(0, np.int64)
    cs = np.cumsum(delta, dtype=np.int64)
    new_seg = np.r_[True, keys[1:] != keys[:-1]]
    seg_start = np.flatnonzero(new_seg)
    before = cs[seg_start] - delta[seg_start]
    seg_id = np.cumsum(new_seg) - 1
    return cs - before[seg_id]
