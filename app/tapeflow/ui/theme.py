"""Colour themes: one frozen record per theme, applied once to the application palette.

Why a record and not a style sheet per widget: panes draw most of their pixels themselves (the
footprint, the ladder) and need the same colours as plain values, so they read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtGui, QtWidgets


@dataclass(frozen=True, slots=True)
class Theme:
    """Colours as ``#rrggbb`` strings (QColor accepts them; tests can compare them)."""

    name: str
    background: str
    panel: str
    grid: str
    text: str
    text_dim: str
    bid: str  # sellers / hit the bid
    ask: str  # buyers / lifted the ask
    bid_strong: str
    ask_strong: str
    poc: str
    value_area: str
    last: str  # last trade marker / flash
    position: str
    warning: str
    danger: str
    neutral: str

    def color(self, name: str, alpha: int = 255) -> QtGui.QColor:
        c = QtGui.QColor(getattr(self, name))
        c.setAlpha(alpha)
        return c


DARK = Theme(
    name="dark",
    background="#101318",
    panel="#181c23",
    grid="#262b35",
    text="#e6e8eb",
    text_dim="#8a919e",
    bid="#e0525c",
    ask="#2fb67c",
    bid_strong="#ff7b84",
    ask_strong="#5cf0ae",
    poc="#f2c14e",
    value_area="#3a4a6b",
    last="#4fa3ff",
    position="#c792ea",
    warning="#f2994a",
    danger="#d32f2f",
    neutral="#9aa4b2",
)

LIGHT = Theme(
    name="light",
    background="#fbfbfc",
    panel="#eef0f3",
    grid="#d9dde3",
    text="#15181d",
    text_dim="#5b6370",
    bid="#c62833",
    ask="#138a52",
    bid_strong="#e0000f",
    ask_strong="#007a3d",
    poc="#b7791f",
    value_area="#c9d6f0",
    last="#1565c0",
    position="#7b1fa2",
    warning="#c25e00",
    danger="#c62828",
    neutral="#5b6370",
)

THEMES: dict[str, Theme] = {t.name: t for t in (DARK, LIGHT)}


def theme_named(name: str) -> Theme:
    """The theme called ``name``; unknown names fall back to dark (the default)."""
    return THEMES.get(name, DARK)


def apply_theme(app: QtWidgets.QApplication, theme: Theme) -> None:
    """Set the application palette so stock widgets (tables, docks, menus) match the charts.

    Restyling the application touches every widget, so it is skipped when the theme is already on.
    """
    if app.property("tapeflow_theme") == theme.name:
        return
    app.setProperty("tapeflow_theme", theme.name)
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    pal = QtGui.QPalette()
    bg, panel, text = QtGui.QColor(theme.background), QtGui.QColor(theme.panel), QtGui.QColor(theme.text)
    role = QtGui.QPalette.ColorRole
    pal.setColor(role.Window, panel)
    pal.setColor(role.WindowText, text)
    pal.setColor(role.Base, bg)
    pal.setColor(role.AlternateBase, panel)
    pal.setColor(role.Text, text)
    pal.setColor(role.Button, panel)
    pal.setColor(role.ButtonText, text)
    pal.setColor(role.ToolTipBase, panel)
    pal.setColor(role.ToolTipText, text)
    pal.setColor(role.Highlight, QtGui.QColor(theme.last))
    pal.setColor(role.HighlightedText, QtGui.QColor("#ffffff"))
    pal.setColor(role.PlaceholderText, QtGui.QColor(theme.text_dim))
    pal.setColor(role.Link, QtGui.QColor(theme.last))
    app.setPalette(pal)
    app.setStyleSheet(
        f"QToolTip {{ color: {theme.text}; background: {theme.panel}; border: 1px solid {theme.grid}; }}"
        f"QDockWidget::title {{ background: {theme.grid}; padding: 3px; }}"
        f"QHeaderView::section {{ background: {theme.panel}; color: {theme.text_dim}; border: 0px;"
        f" border-bottom: 1px solid {theme.grid}; padding: 2px; }}"
    )


def restyle(widget: QtWidgets.QWidget, css: str) -> bool:
    """Set a widget's style sheet only when it differs: setting one, even the same, re-polishes the
    widget and lays out and repaints it (0.2-0.5 ms each; the risk pane set three per update)."""
    if widget.styleSheet() == css:
        return False
    widget.setStyleSheet(css)
    return True
