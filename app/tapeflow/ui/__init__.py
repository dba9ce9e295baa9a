"""The Qt terminal: main window, panes, hotkeys and replay controls (the only package that imports Qt).

Panes are views over immutable snapshots (``Pipeline.snapshot()``), pulled on one frame timer by
the main window; none of them is called per event. Import :func:`tapeflow.ui.app.run_terminal`
to start the application.
"""
