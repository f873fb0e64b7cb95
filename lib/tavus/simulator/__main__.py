"""Run the Tavus simulator on its own: `python -m lib.tavus.simulator --port 8765 --key KEY`.

The key comes from --key or $TAVUS_API_KEY and is never printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .server import TavusSimulator
from .state import DEFAULT_DOCUMENT_SECONDS, DEFAULT_PERCEPTION_DELAY, DEFAULT_TRANSCRIPT_DELAY


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lib.tavus.simulator", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8765, help="port (0 = any free port; default 8765)")
    ap.add_argument("--key", default=None, help="the API key to expect (default: $TAVUS_API_KEY)")
    ap.add_argument(
        "--training-seconds",
        type=float,
        default=120.0,
        help="simulated seconds a replica takes to train (default 120)",
    )
    ap.add_argument(
        "--document-seconds",
        type=float,
        default=DEFAULT_DOCUMENT_SECONDS,
        help="simulated seconds a knowledge-base document takes to process once downloaded "
        f"(default {DEFAULT_DOCUMENT_SECONDS:g})",
    )
    ap.add_argument(
        "--unchanged-patch-status",
        type=int,
        choices=(304, 200),
        default=200,
        help="what a persona JSON Patch that changes nothing answers: 200 (default; Tavus's docs "
        "allow it, and the contract check wants a JSON body on a 304, which HTTP never "
        "delivers) or Tavus's 304",
    )
    ap.add_argument("--max-concurrent-conversations", type=int, default=3)
    ap.add_argument("--transcript-delay", type=float, default=DEFAULT_TRANSCRIPT_DELAY,
                    help="simulated seconds from a joined call's end to its transcript (default 5)")
    ap.add_argument("--perception-delay", type=float, default=DEFAULT_PERCEPTION_DELAY,
                    help="simulated seconds from a joined call's end to its Raven perception "
                    "analysis (default 60)")
    ap.add_argument("--no-demo-data", action="store_true", help="seed only the stock replicas")
    ap.add_argument("--verbose", "-v", action="store_true", help="log each request (no queries)")
    args = ap.parse_args(argv)
    key = args.key or os.environ.get("TAVUS_API_KEY")
    if not key:
        ap.error("an API key is needed: --key or $TAVUS_API_KEY")
    if not args.document_seconds >= 0:  # also refuses NaN
        ap.error("--document-seconds must be >= 0")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(message)s",
    )
    sim = TavusSimulator(
        key,
        host=args.host,
        port=args.port,
        training_seconds=args.training_seconds,
        document_seconds=args.document_seconds,
        unchanged_patch_status=args.unchanged_patch_status,
        seed_demo_data=not args.no_demo_data,
        max_concurrent_conversations=args.max_concurrent_conversations,
        transcript_delay=args.transcript_delay,
        perception_delay=args.perception_delay,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sim.start()
    print(f"Tavus simulator listening on {sim.base_url} (Ctrl-C to stop)", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
