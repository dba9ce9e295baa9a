"""Adapters that turn a source (file, simulator, live connection) into normalized event batches."""
