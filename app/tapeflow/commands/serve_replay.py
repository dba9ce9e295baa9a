"""``tapeflow serve-replay FILE --port N``: publish a recording (or ``sim:``) as a live websocket feed.

Any command that takes a FILE can then read ``ws://127.0.0.1:N`` instead; with ``--speed max``
the stream ends with an end-of-stream message, so ``tapeflow footprint ws://...`` prints what
``tapeflow footprint FILE`` prints. Binds loopback unless ``--host`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys

from tapeflow.commands._source import add_source_args, open_from_args
from tapeflow.errors import TapeflowError
from tapeflow.feeds.ws_server import FeedServer


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve-replay", help="publish a file or sim: source as a websocket feed (ws://)")
    add_source_args(p)
    p.add_argument("--port", type=int, default=8765, help="TCP port (0 picks a free one; default 8765)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--speed", default="1", help="1 = real time, 10 = ten times faster, max = as fast as possible")
    p.add_argument("--retain", type=int, default=4_000_000, help="events kept for resuming clients (default 4M)")
    p.add_argument("--heartbeat", type=float, default=1.0, help="heartbeat interval when idle, seconds")
    p.set_defaults(func=run)


def parse_speed(text: str) -> float | None:
    if text.lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise TapeflowError(f"--speed must be a number or 'max', got {text!r}") from None
    if not speed > 0:
        raise TapeflowError(f"--speed must be positive, got {text!r}")
    return speed


def run(args: argparse.Namespace) -> int:
    speed = parse_speed(args.speed)
    source = open_from_args(args)
    if not _is_loopback(args.host):
        print(f"tapeflow: warning: serving on {args.host}, reachable from other machines", file=sys.stderr)
    try:
        asyncio.run(_serve(source, args, speed))
    except OSError as e:
        raise TapeflowError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    return 0


async def _serve(source, args: argparse.Namespace, speed: float | None) -> None:
    server = FeedServer(source, host=args.host, port=args.port, speed=speed, retain_events=args.retain,
                        heartbeat_s=args.heartbeat)
    await server.start()
    pace = "max" if speed is None else f"{speed:g}x"
    print(f"serving {source.info.source} on {server.url} (speed {pace}); Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
