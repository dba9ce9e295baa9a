"""Reference counts of the ticker plant's subscriptions, shared by every feed on one session.

Why counts: two feeds on one symbol must not cancel each other's data when one of them stops,
and a feed that stops must stop the data it asked for (a terminal that switches from ES to NQ
would otherwise keep receiving ES for the rest of the day). Rithmic keeps market-data update bits
per symbol, so they are counted bit by bit: unsubscribing BBO for one feed leaves another feed's
trades alone.
"""

from __future__ import annotations

from collections import Counter


class Subscriptions:
    """Who wants what; the session sends only the changes that reach or leave zero."""

    def __init__(self) -> None:
        self._bits: Counter[tuple[str, str, int]] = Counter()  # (symbol, exchange, one update bit)
        self._depth: Counter[tuple[str, str]] = Counter()

    def add_market_data(self, symbol: str, exchange: str, bits: int) -> int:
        """Count a subscriber of ``bits``; returns the bits nobody had before (to subscribe)."""
        new = 0
        for bit in _bits_of(bits):
            key = (symbol, exchange, bit)
            if not self._bits[key]:
                new |= bit
            self._bits[key] += 1
        return new

    def remove_market_data(self, symbol: str, exchange: str, bits: int) -> int:
        """Drop a subscriber of ``bits``; returns the bits nobody wants any more (to unsubscribe)."""
        gone = 0
        for bit in _bits_of(bits):
            key = (symbol, exchange, bit)
            if self._bits[key] <= 0:
                continue
            self._bits[key] -= 1
            if not self._bits[key]:
                del self._bits[key]
                gone |= bit
        return gone

    def add_depth(self, symbol: str, exchange: str) -> bool:
        """Count a depth subscriber; True if it is the first."""
        self._depth[(symbol, exchange)] += 1
        return self._depth[(symbol, exchange)] == 1

    def remove_depth(self, symbol: str, exchange: str) -> bool:
        """Drop a depth subscriber; True if it was the last."""
        key = (symbol, exchange)
        if self._depth[key] <= 0:
            self._depth.pop(key, None)
            return False
        self._depth[key] -= 1
        if self._depth[key]:
            return False
        del self._depth[key]
        return True

    def market_data(self) -> dict[tuple[str, str], int]:
        """(symbol, exchange) -> every bit someone wants: what to subscribe after a re-login."""
        out: dict[tuple[str, str], int] = {}
        for symbol, exchange, bit in sorted(self._bits):
            out[(symbol, exchange)] = out.get((symbol, exchange), 0) | bit
        return out

    def depth(self) -> list[tuple[str, str]]:
        return sorted(self._depth)

    def clear(self) -> None:
        self._bits.clear()
        self._depth.clear()


def _bits_of(bits: int) -> list[int]:
    return [1 << i for i in range(bits.bit_length()) if bits >> i & 1]
