"""Build the one-folder app for this OS, check it with ``--selftest``, report time and size.

Why a script around PyInstaller: a build is only useful if the frozen app runs, so the check is
part of the build, and the numbers that keep the bundle lean (seconds, MB, what is biggest) are
printed every time. Installs PyInstaller into the running interpreter's environment if missing.

Usage (from the repository root, in the project's venv with the ``gui`` extra installed)::

    .venv/bin/python packaging/build.py            # build into dist/tapeflow, then selftest
    .venv/bin/python packaging/build.py --no-selftest --dist /tmp/dist --work /tmp/build

Exit status: 0 when the build and the selftest passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "packaging" / "tapeflow.spec"
PYINSTALLER_REQ = "pyinstaller>=6.10,<7"
APP_NAME = "tapeflow"
SELFTEST_TIMEOUT_S = 300


def ensure_pyinstaller() -> None:
    """Install PyInstaller into this interpreter's environment when it is missing."""
    if importlib.util.find_spec("PyInstaller") is not None:
        return
    print(f"installing {PYINSTALLER_REQ} into {sys.prefix}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", PYINSTALLER_REQ], check=True)


def build(dist: Path, work: Path, clean: bool = True) -> float:
    """Run PyInstaller on the spec; returns the wall time in seconds."""
    cmd = [
        sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm",
        "--distpath", str(dist), "--workpath", str(work), "--log-level", "WARN",
    ]
    if clean:
        cmd.append("--clean")
    started = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    return time.perf_counter() - started


def executable(dist: Path) -> Path:
    """The frozen console executable inside the one-folder app."""
    return dist / APP_NAME / (f"{APP_NAME}.exe" if sys.platform == "win32" else APP_NAME)


def run_selftest(exe: Path, require_gui: bool) -> tuple[int, str, float]:
    """Run ``exe --selftest`` headless; returns (exit code, its last line, seconds)."""
    cmd = [str(exe), "--selftest"] + (["--require-gui"] if require_gui else [])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=SELFTEST_TIMEOUT_S)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("selftest ")]
    last = lines[-1] if lines else (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return proc.returncode, last, time.perf_counter() - started


def tree_size(root: Path) -> tuple[int, int]:
    """Bytes and file count under ``root`` (what ``du`` counts, without block rounding)."""
    total = files = 0
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath) / n
            if not p.is_symlink():
                total += p.stat().st_size
                files += 1
    return total, files


def biggest(root: Path, n: int = 8) -> list[tuple[int, str]]:
    """The ``n`` largest entries two levels into the bundle, to see what to trim."""
    internal = root / "_internal" if (root / "_internal").is_dir() else root
    sizes: list[tuple[int, str]] = []
    for child in internal.iterdir():
        if child.is_dir():
            sizes.append((tree_size(child)[0], str(child.relative_to(root))))
        elif not child.is_symlink():
            sizes.append((child.stat().st_size, str(child.relative_to(root))))
    return sorted(sizes, reverse=True)[:n]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dist", type=Path, default=REPO / "dist", help="output folder (default dist/)")
    p.add_argument("--work", type=Path, default=REPO / "build" / "pyinstaller", help="PyInstaller work folder")
    p.add_argument("--no-clean", action="store_true", help="reuse PyInstaller's cache (faster rebuilds)")
    p.add_argument("--no-selftest", action="store_true", help="build only")
    args = p.parse_args(argv)

    ensure_pyinstaller()
    has_qt = importlib.util.find_spec("PySide6") is not None
    if not has_qt:
        print("note: PySide6 is not installed here: the bundle will be headless (install the 'gui' extra)")
    build_s = build(args.dist.resolve(), args.work.resolve(), clean=not args.no_clean)
    app_dir = args.dist.resolve() / APP_NAME
    size, files = tree_size(app_dir)
    print(f"build time   {build_s:8.1f} s")
    print(f"bundle size  {size / 2**20:8.1f} MiB  ({files:,} files in {app_dir})")
    for nbytes, name in biggest(app_dir):
        print(f"  {nbytes / 2**20:8.1f} MiB  {name}")
    if args.no_selftest:
        return 0
    rc, line, selftest_s = run_selftest(executable(args.dist.resolve()), require_gui=has_qt)
    print(line)
    print(f"selftest     {selftest_s:8.1f} s, exit {rc}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
