"""Records per second: our vectorized DBN reader vs a plain ``databento_dbn`` decoder loop.

Both read the same real files (decompressed once into memory, repeated ``--repeat`` times into
one raw ``.dbn`` file so the figure is not dominated by per-file setup). The baseline decodes the
records into Python objects and reads the fields a trade/level normalizer needs.

    .venv/bin/python benchmarks/bench_dbn_read.py [--repeat 40]
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import tempfile
import time
from pathlib import Path

import databento_dbn as dbn
import zstandard

from tapeflow.feeds.dbn_file import DbnFileSource

DATA = Path(os.environ.get("TAPEFLOW_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
FILES = (
    "futures_mbp-1_2024-07-01T23-58_2024-07-02T00-02.dbn.zst",
    "orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst",
)


def _repeated_raw(src: Path, repeat: int, out: Path) -> None:
    """One raw DBN file: the header once, then the records ``repeat`` times."""
    with src.open("rb") as f:
        raw = zstandard.ZstdDecompressor().stream_reader(f).read()
    (length,) = struct.unpack_from("<I", raw, 4)
    head, body = raw[: 8 + length], raw[8 + length :]
    out.write_bytes(head + body * repeat)


def _ours(path: Path) -> int:
    src = DbnFileSource(path)
    for _ in src:
        pass
    return src.stats.records


def _baseline(path: Path) -> int:
    dec = dbn.DBNDecoder()
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            dec.write(chunk)
            for rec in dec.decode():
                if isinstance(rec, dbn.Metadata):
                    continue
                _ = (rec.ts_event, rec.price, rec.size, str(rec.action), str(rec.side))
                n += 1
    return n


def _best_rate(fn, path: Path, rounds: int = 3) -> tuple[int, float]:
    best = 0.0
    n = 0
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = fn(path)
        dt = time.perf_counter() - t0
        best = max(best, n / dt)
    return n, best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=40, help="copies of each small file's records")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            src = DATA / name
            if not src.exists():
                print(f"skipped: {src} is missing", file=sys.stderr)
                continue
            path = Path(tmp) / (name.split("_")[0] + ".dbn")
            _repeated_raw(src, args.repeat, path)
            n_ours, ours = _best_rate(_ours, path)
            n_base, base = _best_rate(_baseline, path)
            assert n_ours == n_base, (n_ours, n_base)
            schema = "mbp-1" if "mbp-1" in name else "mbo"
            rows.append((f"{schema} read+normalize ({n_ours:,} rec)", ours, "records/s", base, ours / base))
    print(f"{'figure':<40} {'value':>14} {'unit':<10} {'baseline':>14} {'ratio':>7}")
    for fig, val, unit, base, ratio in rows:
        print(f"{fig:<40} {val:>14,.0f} {unit:<10} {base:>14,.0f} {ratio:>6.1f}x")
    print("baseline: databento_dbn.DBNDecoder loop over the same raw file, fields read per record")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
