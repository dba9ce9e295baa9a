"""Point of control and value area, shared by footprint bars and the session profile.

Rules (hand-checkable, identical in the scalar and the vectorized version):
- POC: the price with the most volume; a tie goes to the price nearest the middle of the range,
  and a tie in distance to the lower price.
- Value area: start at the POC and grow one price at a time towards the neighbour with more
  volume; when both neighbours hold the same volume, take both. Stop as soon as the included
  volume reaches ``fraction`` (default 70%) of the total. Integer arithmetic throughout.
"""

from __future__ import annotations

import numpy as np

DEFAULT_VALUE_AREA = 0.70
_PPM = 1_000_000


def fraction_ppm(fraction: float) -> int:
    """A value-area fraction as integer parts per million (so comparisons are exact)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"value area fraction must be in (0, 1], got {fraction}")
    return round(fraction * _PPM)


def poc_index(volume: np.ndarray) -> int:
    """Index of the POC in a dense per-tick volume array (low to high)."""
    n = len(volume)
    best = int(volume.max())
    cand = np.flatnonzero(volume == best)
    dist = np.abs(2 * cand - (n - 1)) * 2 + (2 * cand > (n - 1))
    return int(cand[np.argmin(dist)])


def poc_index_of(volume: list[int]) -> int:
    """:func:`poc_index` over a Python list (a bar's levels at close: cheaper than numpy calls)."""
    best = max(volume)
    first = volume.index(best)
    if volume.count(best) == 1:  # the usual case: no tie to break
        return first
    mid2 = len(volume) - 1
    return min((i for i, v in enumerate(volume) if v == best), key=lambda i: abs(2 * i - mid2) * 2 + (2 * i > mid2))


def value_area_indices(volume: np.ndarray, poc: int, fraction: float = DEFAULT_VALUE_AREA) -> tuple[int, int]:
    """(low index, high index) of the value area in a dense volume array."""
    return value_area_of(volume.tolist(), poc, fraction)


def value_area_of(v: list[int], poc: int, fraction: float = DEFAULT_VALUE_AREA) -> tuple[int, int]:
    """:func:`value_area_indices` over a Python list."""
    ppm = fraction_ppm(fraction)
    n = len(v)
    total = sum(v)
    lo = hi = poc
    inc = v[poc]
    while inc * _PPM < ppm * total:
        above = v[hi + 1] if hi + 1 < n else -1
        below = v[lo - 1] if lo > 0 else -1
        if above > below:
            hi += 1
            inc += above
        elif below > above:
            lo -= 1
            inc += below
        else:
            hi += 1
            lo -= 1
            inc += above + below
    return lo, hi


def segment_poc(volume: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Vectorized POC index (relative to each segment's start) for CSR segments of dense volume."""
    nseg = len(offsets) - 1
    if nseg == 0:
        return np.zeros(0, np.int64)
    lengths = np.diff(offsets)
    seg = np.repeat(np.arange(nseg), lengths)
    rel = np.arange(len(volume)) - offsets[:-1][seg]
    span = lengths[seg] - 1
    twice = 2 * rel - span
    dist = np.abs(twice) * 2 + (twice > 0)
    scale = 4 * int(lengths.max()) + 2
    key = volume.astype(np.int64) * scale - dist
    best = np.maximum.reduceat(key, offsets[:-1])
    hit = np.flatnonzero(key == best[seg])
    return hit - offsets[:-1]


def segment_value_area(
    volume: np.ndarray, offsets: np.ndarray, poc: np.ndarray, fraction: float = DEFAULT_VALUE_AREA
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized value area (low, high index relative to segment start) for every CSR segment.

    Steps all segments at once, one price per step, so the cost is (widest segment) numpy passes
    over the still-growing segments rather than a Python loop per bar.
    """
    ppm = fraction_ppm(fraction)
    starts = offsets[:-1].astype(np.int64)
    lengths = np.diff(offsets).astype(np.int64)
    vol = volume.astype(np.int64)
    total = np.add.reduceat(vol, starts) if len(starts) else np.zeros(0, np.int64)
    lo = poc.astype(np.int64).copy()
    hi = lo.copy()
    inc = vol[starts + lo] if len(starts) else np.zeros(0, np.int64)
    active = np.flatnonzero(inc * _PPM < ppm * total)
    while len(active):
        a_lo, a_hi, s, ln = lo[active], hi[active], starts[active], lengths[active]
        has_above = a_hi + 1 < ln
        has_below = a_lo > 0
        above = np.where(has_above, vol[s + np.minimum(a_hi + 1, ln - 1)], -1)
        below = np.where(has_below, vol[s + np.maximum(a_lo - 1, 0)], -1)
        up = above >= below
        down = below >= above
        hi[active] = a_hi + up
        lo[active] = a_lo - down
        inc[active] += np.where(up, above, 0) + np.where(down, below, 0)
        still = inc[active] * _PPM < ppm * total[active]
        active = active[still]
    return lo, hi
