"""Build the frozen app with PyInstaller and run its ``--selftest`` (slow: about two minutes).

Skipped unless ``TAPEFLOW_BUILD_TESTS=1``; run it with
``TAPEFLOW_BUILD_TESTS=1 .venv/bin/python -m pytest -q -m slow tests/test_packaging_build.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("TAPEFLOW_BUILD_TESTS") != "1", reason="set TAPEFLOW_BUILD_TESTS=1 to build"),
]


@pytest.fixture(scope="module")
def built_app(tmp_path_factory) -> tuple[Path, str]:
    """Build once into a temporary folder; returns (the app folder, the build script's output)."""
    out = tmp_path_factory.mktemp("frozen")
    proc = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "build.py"), "--dist", str(out / "dist"),
         "--work", str(out / "build")],
        capture_output=True, text=True, timeout=1800, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "dist" / "tapeflow", proc.stdout


def test_build_script_builds_and_the_frozen_selftest_passes(built_app):
    _, output = built_app
    assert "build time" in output and "bundle size" in output
    ok = [line for line in output.splitlines() if line.startswith("selftest ok: ")]
    assert ok, output
    assert " fills=" in ok[0] and " plugins=ok " in ok[0]


def test_frozen_app_selftest_flag_exits_0_with_one_summary_line(built_app):
    app_dir, _ = built_app
    exe = app_dir / ("tapeflow.exe" if sys.platform == "win32" else "tapeflow")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([str(exe), "--selftest"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("selftest ok: ")


def test_frozen_app_lists_every_subcommand(built_app):
    """The CLI discovers its commands with pkgutil: the frozen app must have bundled them all."""
    app_dir, _ = built_app
    exe = app_dir / ("tapeflow.exe" if sys.platform == "win32" else "tapeflow")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from tapeflow.cli import build_parser

    commands = sorted(build_parser()._subparsers._group_actions[0].choices)  # what the source tree registers
    missing = [c for c in commands if f"    {c}" not in proc.stdout]
    assert not missing, proc.stdout
