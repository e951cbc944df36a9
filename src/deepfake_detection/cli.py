"""`deepfake-detect` command line. Thin: parse, call one public entry, print."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import DeepfakeError


def _cmd_prepare_dfdc(args) -> int:
    from .train.prepare import prepare_dfdc

    counts = prepare_dfdc(args.snapshot, args.out, args.train_fakes_per_group, args.seed)
    for (split, label), n in sorted(counts.items()):
        print(f"{split:5s} {label:4s} {n}")
    print(f"manifest written to {args.out}")
    return 0


def _cmd_train(args) -> int:
    from .config import load_config
    from .train.trainer import TrainConfig, train

    cfg = load_config(TrainConfig, args.config, data=args.data, out=args.out, max_steps=args.max_steps)
    run = train(cfg, progress=not args.quiet)
    print(f"run directory: {run}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="deepfake-detect",
        description="Detect deepfaked faces in videos and images; train and evaluate the models behind it.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("prepare-dfdc", help="build a grouped train/val/test manifest from the DFDC face-crop snapshot")
    s.add_argument("snapshot", help="folder holding metadata.csv and faces_224/ (see shared DATA.md)")
    s.add_argument("--out", default="data/dfdc/manifest.csv", help="manifest to write (default: %(default)s)")
    s.add_argument("--train-fakes-per-group", type=int, default=2, help="FAKE crops kept per source video in train")
    s.add_argument("--seed", type=int, default=0, help="split seed (default: %(default)s)")
    s.set_defaults(func=_cmd_prepare_dfdc)

    s = sub.add_parser("train", help="train a registered model from a YAML config (overrides of TrainConfig)")
    s.add_argument("--config", help="YAML file of TrainConfig overrides, e.g. configs/efficientnet_lite0.yaml")
    s.add_argument("--data", help="override: manifest CSV")
    s.add_argument("--out", help="override: run directory")
    s.add_argument("--max-steps", type=int, help="override: number of optimiser steps")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_train)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except DeepfakeError as e:
        print(f"deepfake-detect: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
