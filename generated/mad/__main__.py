"""``python -m mad``: run the MAD ecosystem in one process until SIGTERM or Ctrl-C.

Exit codes: 0 after a clean shutdown, 2 for bad options, an unreachable bus or a store that
cannot be opened or migrated.
"""
from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from mad.app import ALL_MADS, Config, Ecosystem
from mad.core.bus import BusError
from mad.core.migrations import MigrationError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mad", description="Run the MAD ecosystem.")
    parser.add_argument("--host", default="127.0.0.1", help="address Grace listens on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="Grace's port; 0 picks a free one")
    parser.add_argument("--bus", default="memory", help="'memory' (default) or a redis://host:port/db URL")
    parser.add_argument("--data-dir", default="mad-data", help="where SQLite files, keys and logs live")
    parser.add_argument("--mads", default=",".join(ALL_MADS),
                        help=f"comma-separated MADs to run in this process (default: {','.join(ALL_MADS)})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mads = tuple(m.strip() for m in args.mads.split(",") if m.strip())
    config = Config(data_dir=Path(args.data_dir), host=args.host, port=args.port, bus=args.bus, mads=mads)
    eco = Ecosystem(config)
    try:
        eco.start()
    except (BusError, ValueError, OSError, MigrationError, sqlite3.Error) as exc:  # no traceback
        print(f"mad: cannot start: {exc}", file=sys.stderr)
        eco.stop()
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    where = eco.url or "(no HTTP gateway in this process)"
    print(f"MAD ecosystem ready on {where} mads={','.join(sorted(eco.mads))} bus={args.bus.split('@')[-1]} "
          f"data={config.data_dir}", flush=True)
    while not stop.wait(0.5):
        pass
    eco.stop()
    print("MAD ecosystem stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
