"""Process-wide settings for a long-running session (no Qt, no I/O).

Why: CPython's full (generation 2) garbage collection walks every tracked object. With the
terminal's window, its panes and a loaded session that is about 100k objects, and a full
collection of them took 60-70 ms here: a frozen window at an unpredictable moment, several
times the frame budget. Objects alive when a session starts mostly live as long as it does, so
moving them out of the collector's reach (``gc.freeze``) leaves later collections only the
objects made since, which keeps them to a few milliseconds. Nothing is leaked: frozen objects
are still freed by reference counting; only cycles among them wait for the process to end.
"""

from __future__ import annotations

import gc


def settle_heap() -> int:
    """Collect once, then exempt every surviving object from later collections; returns how many
    objects were frozen. Call when a session starts (after its window and data are built)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
