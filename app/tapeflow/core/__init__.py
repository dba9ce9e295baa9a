"""Instruments, event records, sessions and time: the vocabulary every other package speaks."""
