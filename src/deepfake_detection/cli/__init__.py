"""`deepfake-detect` command line: one module per command, each with `register(subparsers)` and `run(args)`.

Commands parse, call one library entry and print; the logic lives in the library, where the server and scan use it
too. Options shared by several commands are defined once in `_options`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

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
    return _run(build_parser().parse_args(argv))


def entry() -> NoReturn:
    """The `deepfake-detect` program: `main`, then for one-shot commands an exit without interpreter teardown."""
    args = build_parser().parse_args()
    code = _run(args)
    if getattr(args, "quick_exit", False):
        # Tearing down ONNX Runtime's sessions and thread pools, PyAV and numpy costs 0.05-0.07 s, about a tenth of a
        # `detect` call. Such a command holds no temp file or worker by now; only the streams need flushing.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except OSError:  # e.g. a closed pipe: let the normal exit report it
            sys.exit(code)
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


def _run(args: argparse.Namespace) -> int:
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
