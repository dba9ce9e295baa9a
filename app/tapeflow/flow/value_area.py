"""Point of control and value area, shared by footprint bars and the session profile.

Rules (hand-checkable, identical in the scalar and the vectorized version):
- POC: the price with the most volume; a tie goes to the price nearest the middle of the range,
  and a tie in distance to the lower price.
- Value area, ``"two_row"`` (the default; the CBOT Market Profile method most platforms use):
  start at the POC; compare the volume of the two prices above the value area with the two
  below and add the larger pair (where only one price is left on a side, that one is its
  "pair"; where none is left, the other side's pair is taken). Stop as soon as the included
  volume reaches ``fraction`` (default 70%) of the total.
- ``"one_row"``: the same, one price at a time.
- Either way, when both sides hold the same volume both are taken, so the area never leans up
  or down on a tie. Integer arithmetic throughout.
"""

from __future__ import annotations

import numpy as np

DEFAULT_VALUE_AREA = 0.70
VALUE_AREA_METHODS = {"two_row": 2, "one_row": 1}
"""Method name -> prices compared on each side per step."""
DEFAULT_VALUE_AREA_METHOD = "two_row"
_PPM = 1_000_000


def method_rows(method: str) -> int:
    """Prices per side and step of a value-area method (``"two_row"`` 2, ``"one_row"`` 1)."""
    rows = VALUE_AREA_METHODS.get(method)
    if rows is None:
        raise ValueError(f"value_area_method must be one of {', '.join(VALUE_AREA_METHODS)}, got {method!r}")
    return rows


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


def value_area_indices(
    volume: np.ndarray, poc: int, fraction: float = DEFAULT_VALUE_AREA, method: str = DEFAULT_VALUE_AREA_METHOD
) -> tuple[int, int]:
    """(low index, high index) of the value area in a dense volume array."""
    return value_area_of(volume.tolist(), poc, fraction, method)


def value_area_of(
    v: list[int], poc: int, fraction: float = DEFAULT_VALUE_AREA, method: str = DEFAULT_VALUE_AREA_METHOD
) -> tuple[int, int]:
    """:func:`value_area_indices` over a Python list."""
    ppm = fraction_ppm(fraction)
    k = method_rows(method)
    n = len(v)
    total = sum(v)
    lo = hi = poc
    inc = v[poc]
    while inc * _PPM < ppm * total:
        up, down = min(k, n - 1 - hi), min(k, lo)
        above = sum(v[hi + 1 : hi + 1 + up]) if up else -1
        below = sum(v[lo - down : lo]) if down else -1
        if above >= below:
            hi += up
            inc += above
        if below >= above:
            lo -= down
            inc += below
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
    volume: np.ndarray,
    offsets: np.ndarray,
    poc: np.ndarray,
    fraction: float = DEFAULT_VALUE_AREA,
    method: str = DEFAULT_VALUE_AREA_METHOD,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized value area (low, high index relative to segment start) for every CSR segment.

    Steps all segments at once, one step (a row or a pair of rows a side) per numpy pass, so the
    cost is (widest segment) passes over the still-growing segments rather than a Python loop per
    bar. The volume of a run of rows is a difference of one prefix sum.
    """
    ppm = fraction_ppm(fraction)
    k = method_rows(method)
    starts = offsets[:-1].astype(np.int64)
    lengths = np.diff(offsets).astype(np.int64)
    vol = volume.astype(np.int64)
    cum = np.concatenate(([0], np.cumsum(vol)))
    total = cum[starts + lengths] - cum[starts]
    lo = poc.astype(np.int64).copy()
    hi = lo.copy()
    inc = vol[starts + lo] if len(starts) else np.zeros(0, np.int64)
    active = np.flatnonzero(inc * _PPM < ppm * total)
    while len(active):
        a_lo, a_hi, s, ln = lo[active], hi[active], starts[active], lengths[active]
        n_up = np.minimum(k, ln - 1 - a_hi)
        n_down = np.minimum(k, a_lo)
        above = np.where(n_up > 0, cum[s + a_hi + 1 + n_up] - cum[s + a_hi + 1], -1)
        below = np.where(n_down > 0, cum[s + a_lo] - cum[s + a_lo - n_down], -1)
        up = above >= below
        down = below >= above
        hi[active] = a_hi + np.where(up, n_up, 0)
        lo[active] = a_lo - np.where(down, n_down, 0)
        inc[active] += np.where(up, above, 0) + np.where(down, below, 0)
        still = inc[active] * _PPM < ppm * total[active]
        active = active[still]
    return lo, hi
