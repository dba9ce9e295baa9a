"""Helpers for tests that run ``tapeflow webhook`` as a real process on loopback (no tests here).

Each server is a subprocess (``python -m tapeflow webhook --port 0``); the test reads the port
from its "listening on" line, talks HTTP with the standard library, and stops it with SIGTERM or
``kill -9`` (a crash). Tiny file systems for disk-full cases are tmpfs mounts, which need root:
:func:`tiny_tmpfs` skips, saying why, where mounting is not possible.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

SECRET = "restart-loop-secret-0123456789"
APP = Path(__file__).resolve().parents[1] / "app"
STARTUP_S = 60.0


def env(home: Path) -> dict[str, str]:
    e = dict(os.environ)
    e.update(TAPEFLOW_WEBHOOK_SECRET=SECRET, TAPEFLOW_HOME=str(home), PYTHONPATH=str(APP))
    return e


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tapeflow", "webhook", "--port", "0", *args]


@dataclass
class Server:
    """One running ``tapeflow webhook`` process."""

    proc: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)

    def post(self, **fields: Any) -> tuple[int, dict[str, Any]]:
        body = {"secret": SECRET, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **fields}
        req = urllib.request.Request(
            f"{self.url}/webhook", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        return _call(req)

    def status(self) -> dict[str, Any]:
        code, doc = _call(urllib.request.Request(f"{self.url}/status", headers={"X-Tapeflow-Secret": SECRET}))
        assert code == 200, doc
        return doc

    def position(self, root: str = "ES") -> int:
        return sum(p["qty"] for p in self.status()["positions"] if p["instrument"] == root)

    def wait_for(self, what, timeout: float = 20.0) -> Any:
        """Poll ``what()`` until it is truthy (the feed runs in real time)."""
        deadline = time.monotonic() + timeout
        while True:
            got = what()
            if got or time.monotonic() > deadline:
                return got
            time.sleep(0.25)  # under the status page's rate limit (5/s)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _call(req: urllib.request.Request) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def start(home: Path, *args: str) -> Server:
    """Start a server and wait until it listens; fails the test with its output if it exits."""
    proc = subprocess.Popen(
        command(*args), env=env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    server = Server(proc)
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            server.lines.append(line.rstrip("\n"))
            m = re.search(r"listening on (http://\S+)/webhook", line)
            if m:
                server.url = m.group(1)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(STARTUP_S)
    if not server.url:
        server.stop()
        pytest.fail("tapeflow webhook did not start:\n" + "\n".join(server.lines))
    return server


def run_to_exit(home: Path, *args: str, timeout: float = STARTUP_S) -> tuple[int, str]:
    """Run a server that is expected to refuse to start: (exit code, output)."""
    done = subprocess.run(
        command(*args, "--duration", "5"), env=env(home), capture_output=True, text=True, timeout=timeout
    )
    return done.returncode, done.stdout + done.stderr


@contextlib.contextmanager
def running(home: Path, *args: str) -> Iterator[Server]:
    server = start(home, *args)
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def tiny_tmpfs(where: Path, kilobytes: int) -> Iterator[Path]:
    """A tmpfs of ``kilobytes`` at ``where`` (root only: skips with the reason otherwise)."""
    where.mkdir(parents=True, exist_ok=True)
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("a tiny tmpfs needs root to mount (disk-full behaviour is covered in-process too)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill_disk(folder: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(b"\0" * 4096)
    return filler
