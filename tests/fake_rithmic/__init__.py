"""A fake Rithmic gateway (TLS websocket, Rithmic framing, async-rithmic's own messages) for tests."""
