"""Order-flow state: footprint bars, volume profile, delta and the order book (DOM)."""
