"""Rule engine, built-in order-flow detectors, filters and plugin discovery."""
