"""`deepfake-detect` command line: one module per command, each with `register(subparsers)` and `run(args)`.

Commands parse, call one library entry and print; the logic lives in the library, where the server and scan use it
too. Options shared by several commands are defined once in `_options`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..errors import DeepfakeError
from . import calibrate, detect, evaluate, export, models, prepare, sbi_preview, scan, serve, train

# Order of `--help`: the product first, then the model work.
COMMANDS = (detect, scan, serve, models, evaluate, prepare, train, calibrate, export, sbi_preview)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepfake-detect",
        description="Detect deepfaked faces in videos and images; train and evaluate the models behind it.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except DeepfakeError as e:
        print(f"deepfake-detect: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
