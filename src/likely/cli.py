"""The `likely` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="likely", description="Maximum likelihood estimation.")
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="walk through the lesson of maximum likelihood on real data")
    tour.add_argument(
        "--out", default="tour-output", help="folder for the plots (default tour-output)"
    )
    tour.add_argument("--no-plot", action="store_true", help="skip writing plots")
    args = parser.parse_args(argv)
    try:
        if args.command == "tour":
            from .tour import run

            run(None if args.no_plot else args.out)
    except (ValueError, OSError) as e:  # user errors: one line, no traceback
        print(f"likely: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
