"""Draw Tapeflow's icon with Qt and write the PNG, ICO and ICNS files the builds use.

Why generated: one drawing in code gives every size an OS asks for, and the ICO/ICNS containers
simply hold PNGs (Windows Vista+ and macOS 10.7+ read them), so no image library is needed.
Output (committed, regenerate after changing the drawing)::

    resources/icons/tapeflow.png            512 px, source for other tools
    resources/icons/tapeflow.ico            16-256 px, Windows executable icon
    resources/icons/tapeflow.icns           16-1024 px, macOS app bundle icon
    app/tapeflow/resources/icons/tapeflow.png   256 px, the window icon at run time

Run: ``QT_QPA_PLATFORM=offscreen python packaging/make_icons.py``
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ICON_DIR = REPO / "resources" / "icons"
RUNTIME_ICON = REPO / "app" / "tapeflow" / "resources" / "icons" / "tapeflow.png"

ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09", 1024: b"ic10"}

# (bid, ask) volume per price row, top to bottom: a footprint bar with a stacked-ask imbalance
ROWS = ((2, 3), (3, 6), (4, 9), (9, 10), (6, 4), (5, 2), (3, 1))
POC_ROW = 3


def render_png(size: int) -> bytes:
    """The icon at ``size`` px as PNG bytes: a footprint bar (bid left, ask right, POC in amber)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
    from PySide6.QtGui import QColor, QImage, QPainter

    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = size / 64.0  # design grid: 64 x 64
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#141a23"))
    p.drawRoundedRect(QRectF(2 * s, 2 * s, 60 * s, 60 * s), 12 * s, 12 * s)
    top, row_h, gap = 10 * s, 6 * s, 0.9 * s
    mid, unit = 32 * s, 2.2 * s
    for i, (bid, ask) in enumerate(ROWS):
        y = top + i * row_h
        h = row_h - gap
        poc = i == POC_ROW
        p.setBrush(QColor("#ffb020") if poc else QColor("#e5484d"))
        p.drawRoundedRect(QRectF(mid - bid * unit - 0.5 * s, y, bid * unit, h), 1.2 * s, 1.2 * s)
        p.setBrush(QColor("#ffb020") if poc else QColor("#30a46c"))
        p.drawRoundedRect(QRectF(mid + 0.5 * s, y, ask * unit, h), 1.2 * s, 1.2 * s)
    p.setBrush(QColor("#d0d7e2"))  # the bar's axis
    p.drawRect(QRectF(mid - 0.5 * s, top - 2 * s, 1 * s, len(ROWS) * row_h + 4 * s))
    p.end()
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    img.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICO file whose entries are PNG images (one per size)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = b"", b""
    for n in sizes:
        data = pngs[n]
        dim = 0 if n >= 256 else n  # 0 means 256 in ICO
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset + len(blobs))
        blobs += data
    return header + entries + blobs


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICNS file whose elements are PNG images (types icp4..ic10)."""
    body = b"".join(
        ICNS_TYPES[n] + struct.pack(">I", 8 + len(pngs[n])) + pngs[n] for n in sorted(pngs) if n in ICNS_TYPES
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([])
    sizes = sorted(set(ICO_SIZES) | set(ICNS_TYPES))
    pngs = {n: render_png(n) for n in sizes}
    ICON_DIR.mkdir(parents=True, exist_ok=True)
    RUNTIME_ICON.parent.mkdir(parents=True, exist_ok=True)
    (ICON_DIR / "tapeflow.png").write_bytes(pngs[512])
    (ICON_DIR / "tapeflow.ico").write_bytes(ico_bytes({n: pngs[n] for n in ICO_SIZES}))
    (ICON_DIR / "tapeflow.icns").write_bytes(icns_bytes({n: pngs[n] for n in ICNS_TYPES}))
    RUNTIME_ICON.write_bytes(pngs[256])
    del app
    for f in (*sorted(ICON_DIR.iterdir()), RUNTIME_ICON):
        print(f"{f.relative_to(REPO)}  {f.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
