"""``tapeflow footprint ws://...`` against ``tapeflow serve-replay --speed max`` prints exactly what
``tapeflow footprint FILE`` prints (a real server process on loopback)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import MBP1_FILE

from tapeflow.cli import main
from tapeflow.errors import TapeflowError
from tapeflow.feeds.open import open_source

SIM_SPEC = "sim://rth?seed=7&minutes=3"


@contextmanager
def serve_replay(*argv: str) -> Iterator[str]:
    """Run ``tapeflow serve-replay`` on a free loopback port; yield its ws:// URL."""
    cmd = [sys.executable, "-m", "tapeflow.cli", "serve-replay", *argv, "--port", "0", "--speed", "max"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        if " on ws://" not in line:
            proc.kill()
            pytest.fail(f"serve-replay did not start: {line!r}")
        yield line.split(" on ", 1)[1].split()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def cli_output(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def mbp1_feed() -> Iterator[str]:
    """One serve-replay process for the real file; it retains the stream, so every test reads it all."""
    if not MBP1_FILE.exists():
        pytest.skip(f"real market data not available: {MBP1_FILE} is missing")
    with serve_replay(str(MBP1_FILE)) as url:
        yield url


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_footprint_over_serve_replay_equals_footprint_of_the_file_byte_for_byte(capsys, mbp1_feed, fmt):
    expected = cli_output(capsys, "footprint", str(MBP1_FILE), "--format", fmt)
    assert mbp1_feed.startswith("ws://127.0.0.1:")
    got = cli_output(capsys, "footprint", mbp1_feed, "--format", fmt)
    assert got == expected and "5529.25" in got


def test_footprint_over_serve_replay_of_a_simulator_spec_equals_the_spec(capsys):
    expected = cli_output(capsys, "footprint", SIM_SPEC, "--bar", "30s", "--last", "3")
    with serve_replay(SIM_SPEC) as url:
        first = cli_output(capsys, "footprint", url, "--bar", "30s", "--last", "3")
        again = cli_output(capsys, "footprint", url, "--bar", "30s", "--last", "3")  # retained: a second client too
    assert first == expected and again == expected and "Footprint 30s" in expected


def test_an_unreachable_feed_url_gives_up_with_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        src = open_source(f"ws://127.0.0.1:{s.getsockname()[1]}")
        src.max_attempts = 2
        with pytest.raises(TapeflowError, match="giving up after 2 failed connection attempts"):
            list(src)


def test_a_batch_reader_that_stops_early_shuts_its_feed_thread_down(mbp1_feed):
    import threading

    before = {t.name for t in threading.enumerate()}
    src = open_source(mbp1_feed)
    it = iter(src)
    first = next(it)
    it.close()  # what a consumer that breaks out of its loop does
    assert len(first) > 0
    assert not [t for t in threading.enumerate() if t.name.startswith("feed ") and t.name not in before]
