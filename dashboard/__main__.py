"""``python -m dashboard [--host 127.0.0.1] [--port 8050] [--debug]``: serve the dashboard."""
from __future__ import annotations

import argparse
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2 (argparse's default prints the usage too)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def _port(text: str) -> int:
    try:
        p = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= p <= 65535:
        raise argparse.ArgumentTypeError(f"must be in [1, 65535], got {p}")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    ap = _Parser(prog="python -m dashboard", description="Serve the invertibility explorer.")
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=_port, default=8050, help="port (default 8050)")
    ap.add_argument("--debug", action="store_true", help="Dash debug mode (reloader and dev tools); off by default")
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    from .app import build_app  # after parsing, so a bad flag fails fast

    build_app().run(host=args.host, port=args.port, debug=args.debug)


if __name__ == "__main__":
    main()
