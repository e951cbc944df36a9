"""`deepfake-detect train`: a registered model from a YAML config; `train-dynamics`: the landmark-motion model."""

from __future__ import annotations

import argparse
import json

from . import _options as opt


def register(sub) -> None:
    s = sub.add_parser(
        "train",
        help="train a registered model from a YAML config (overrides of TrainConfig)",
        description="Resumable: rerunning with the same --out continues from its last.pt.",
    )
    s.add_argument("--config", help="YAML file of TrainConfig overrides, e.g. configs/efficientnet_lite0.yaml")
    s.add_argument("--data", help="override: manifest CSV (several: comma-separated)")
    s.add_argument("--out", help="override: run directory")
    s.add_argument("--max-steps", type=opt.positive_int, help="override: number of optimiser steps")
    opt.add_quiet(s)
    s.set_defaults(func=run)

    s = sub.add_parser("train-dynamics", help="fit the landmark-dynamics model on face tracks from extract-faces")
    s.add_argument("--data", required=True, help="extract-faces manifest.csv (with box and landmarks columns)")
    s.add_argument("--out", default="runs/landmark_dynamics.json", help="model JSON to write (default: %(default)s)")
    opt.add_json(s, "print the metrics as JSON")
    s.set_defaults(func=run_dynamics)


def run(args: argparse.Namespace) -> int:
    opt.require_extra("train", "train")
    from ..config import load_config
    from ..train import TrainConfig, train

    cfg = load_config(TrainConfig, args.config, data=args.data, out=args.out, max_steps=args.max_steps)
    if cfg.sbi > 0 and cfg.sbi_landmarks == 68:
        opt.require_extra("sbi", "train (sbi_landmarks: 68)")
    run_dir = train(cfg, progress=opt.show_progress(args.quiet))
    print(f"run directory: {run_dir}")
    return 0


def run_dynamics(args: argparse.Namespace) -> int:
    opt.require_extra("train", "train-dynamics", ["sklearn"])
    from ..train.dynamics import fit_from_manifest

    report = fit_from_manifest(args.data, args.out)
    print(
        json.dumps(report, default=float)
        if args.json
        else "\n".join(
            f"{k}: AUC {v['auc']:.4f}, log loss {v['log_loss']:.4f}, n {v['n']}"
            for k, v in report.items()
            if isinstance(v, dict)
        )
        + f"\nwrote {args.out}"
    )
    return 0
