"""`deepfake-detect export`: a training run to ONNX with its calibration and model card."""

from __future__ import annotations

import argparse

from . import _options as opt


def register(sub) -> None:
    s = sub.add_parser("export", help="export a training run to ONNX with calibration and a model card")
    s.add_argument("run", help="run directory holding best.pt")
    s.add_argument("--out", required=True, help="output .onnx path (a .json card is written next to it)")
    s.add_argument("--name", help="model name recorded in the card (default: the architecture name)")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    opt.require_extra("train", "export")
    from ..train.export import export_run

    card = export_run(args.run, args.out, name=args.name)
    v = card["validation"]
    print(
        f"wrote {args.out} (+ .json card): validation AUC {v['auc']:.4f}, log loss {v['log_loss']:.4f}, "
        f"threshold {card['threshold']:.3f}, ONNX vs PyTorch max |diff| {card['onnx_vs_torch_max_abs_diff']:.1e}"
    )
    return 0
