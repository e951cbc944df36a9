"""`deepfake-detect calibrate | fuse`: a model's calibration, threshold and decision rule, written to its card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import DeepfakeError
from . import _options as opt


def _operating_point_args(s: argparse.ArgumentParser, real_required: bool) -> None:
    """Options shared by `calibrate` and `fuse`: the validation data and the held-apart real videos."""
    s.add_argument("--data", required=True, help="crop manifest with a val split (e.g. data/dfdc/manifest.csv)")
    s.add_argument(
        "--real-videos",
        required=real_required,
        help="folder of held-apart REAL videos for the operating point (never DFDC, never the test family)",
    )
    s.add_argument(
        "--target-fpr",
        type=opt.probability,
        default=0.05,
        help="share of validation REAL crops and of real videos allowed to be flagged (default: %(default)s)",
    )
    opt.add_frames(s, "frames sampled per video")
    s.add_argument(
        "--work", default="data/real_variants", help="cache of re-encoded real videos (default: %(default)s)"
    )
    opt.add_quiet(s)


def register(sub) -> None:
    s = sub.add_parser(
        "calibrate",
        help="refit a model's Platt calibration and threshold (optionally with flip "
        "test-time augmentation) and write its card",
        description="Scores the manifest's validation crops with the ONNX model (averaging each crop "
        "with its mirror image under --tta hflip), refits Platt scaling, and sets the "
        "threshold so at most --target-fpr of the validation REAL crops, and of the "
        "re-encoded --real-videos, are flagged. Write the card next to its .onnx to use it.",
    )
    s.add_argument("model", help="shipped name or exported .onnx path")
    s.add_argument(
        "--tta", choices=("none", "hflip"), default="none", help="test-time augmentation (default: %(default)s)"
    )
    s.add_argument("--out", required=True, help="model card .json to write")
    s.add_argument(
        "--real-footage",
        help="folder of real footage of every kind (shared DATA.md §6): half of its "
        "sources set the threshold and the number-of-faces rule, half are held apart",
    )
    s.add_argument("--real-footage-manifest", help="its MANIFEST.csv (file, kind, condition, source_repo)")
    s.add_argument(
        "--talking-heads",
        help="folder of talking-head videos (DATA.md §5): validation REAL videos "
        "join the calibration, test videos are held apart, FAKE ones are counted",
    )
    s.add_argument("--talking-heads-manifest", help="its MANIFEST.csv")
    s.add_argument(
        "--fake-videos",
        action="append",
        default=[],
        help="folder with REAL/ and FAKE/ videos only measured at the chosen point (e.g. UADFV); repeatable",
    )
    _operating_point_args(s, real_required=False)
    s.set_defaults(func=run_calibrate)

    s = sub.add_parser(
        "fuse",
        help="stack frame models (logistic regression on validation crops) and set the "
        "operating point on held-apart real videos",
        description="Fits fused logit = Σ w·logit + b on the manifest's validation crops, re-encodes "
        "the REAL videos of --real-videos at three qualities, runs the full pipeline on "
        "them and sets the threshold so that at most --target-fpr of them (and of the "
        "validation REAL crops) are flagged. Writes a fusion card served like any model.",
    )
    s.add_argument(
        "--models",
        nargs="+",
        required=True,
        help="shipped names or exported .onnx paths (faces are cut at the largest input size, brought down for the rest)",
    )
    s.add_argument(
        "--mean",
        nargs="*",
        type=float,
        metavar="W",
        help="average the models' logits with equal weights, or with these relative ones (one per model, e.g. "
        "--mean 1 1 0.5), fitting only the mean's scale and bias (the ensembles leave-one-source-out ranks) "
        "instead of one weight per model",
    )
    s.add_argument(
        "--tta",
        choices=("none", "hflip"),
        help="force this test-time augmentation on every model, fitted and served alike (default: each model's card)",
    )
    s.add_argument(
        "--every",
        type=int,
        nargs="+",
        metavar="K",
        help="one per model: model k scores a video's sampled frames at positions that are multiples of K, "
        "its logits between interpolated within each face's track (e.g. 1 2: the second, costlier model sees every "
        "other frame; default: every model, every frame)",
    )
    s.add_argument("--out", required=True, help="fusion card .json to write")
    s.add_argument("--name", default="fusion", help="model name recorded in the card (default: %(default)s)")
    s.add_argument(
        "--sbi",
        type=opt.probability,
        default=0.0,
        help="add self-blends of this share of the validation "
        "REAL crops as a second FAKE family to the "
        "stacking set (default: %(default)s)",
    )
    s.add_argument("--cache-dir", default="data/cache", help="landmark cache for --sbi (default: %(default)s)")
    opt.add_json(s, "print the card as JSON")
    _operating_point_args(s, real_required=True)
    s.set_defaults(func=run_fuse)


def _folders(*folders: str | None) -> None:
    for folder in folders:  # checked before any slow work
        if folder and not Path(folder).is_dir():
            raise DeepfakeError(f"{folder} is not a folder")


def _manifests(*manifests: str | None) -> None:
    for manifest in manifests:
        if manifest and not Path(manifest).is_file():
            raise DeepfakeError(f"manifest {manifest} not found")


def run_calibrate(args: argparse.Namespace) -> int:
    opt.require_extra("train", "calibrate", ["sklearn"])
    from ..train.operating import calibrate_model

    if bool(args.real_footage) != bool(args.real_footage_manifest):
        raise DeepfakeError("--real-footage and --real-footage-manifest go together")
    if bool(args.talking_heads) != bool(args.talking_heads_manifest):
        raise DeepfakeError("--talking-heads and --talking-heads-manifest go together")
    _folders(args.real_videos, args.real_footage, args.talking_heads, *args.fake_videos)
    _manifests(args.real_footage_manifest, args.talking_heads_manifest, *args.data.split(","))
    card = calibrate_model(
        args.model,
        args.data,
        Path(args.out),
        args.tta,
        args.target_fpr,
        Path(args.work),
        real_footage=(args.real_footage_manifest, args.real_footage) if args.real_footage else None,
        talking_heads=(args.talking_heads_manifest, args.talking_heads) if args.talking_heads else None,
        reencode=Path(args.real_videos) if args.real_videos else None,
        fake_videos=args.fake_videos,
        frames=args.frames,
        progress=opt.progress_fn(args.quiet, "footage" if args.real_footage else "real videos"),
    )
    m, op, cal = card["validation"], card["operating_point"], card["calibration"]
    print(
        f"wrote {args.out}: tta {args.tta}, Platt a={cal['a']:.3f} b={cal['b']:.3f}, threshold "
        f"{card['threshold']:.3f}; validation AUC {m['auc']:.4f}, log loss {m['log_loss']:.4f}, ECE {m['ece']:.4f}; "
        f"REAL crops flagged {m['real_flagged']:.1%}, FAKE crops caught {m['fake_caught']:.1%}"
    )
    held = op.get("held_apart_real", {})
    for key, row in held.get("condition", {}).items():
        print(
            f"  held-apart real {key:12s} {row['items']:3d} items, flagged {row['flagged']:.1%}, no face judged "
            f"{row['no_face']:.1%}"
        )
    for key, row in held.get("judged_faces", {}).items():
        print(f"  held-apart real, judged faces {key:11s} {row['items']:3d} items, flagged {row['flagged']:.1%}")
    if swap := op.get("halves_swapped"):
        print(
            f"  halves swapped: threshold {swap['threshold']:.3f} set on the held-apart half flags "
            f"{swap['flagged']:.1%} of the {swap['items']} calibration items"
        )
    return 0


def run_fuse(args: argparse.Namespace) -> int:
    opt.require_extra("train", "fuse", ["sklearn"])
    import numpy as np

    from ..train.fusion import fuse_models

    _folders(args.real_videos)
    _manifests(*args.data.split(","))
    card = fuse_models(
        args.models,
        args.data,
        Path(args.out),
        args.name,
        args.target_fpr,
        Path(args.real_videos),
        Path(args.work),
        args.frames,
        args.sbi,
        Path(args.cache_dir),
        opt.progress_fn(args.quiet, "real videos"),
        mean=args.mean is not None,
        tta=args.tta,
        every=args.every,
        relative=args.mean or None,
    )
    if args.json:
        print(json.dumps(card))
        return 0
    op = card["operating_point"]
    print(
        f"wrote {args.out}: weights {np.round(card['weights'], 3).tolist()} bias {card['bias']:.3f}, "
        f"threshold {card['threshold']:.3f}"
    )
    for name, m in card["validation"].items():
        print(f"  val {name:28s} AUC {m['auc']:.3f}  log loss {m['log_loss']:.3f}  ECE {m['ece']:.3f}")
    print(
        f"  real videos flagged {op['real_videos_flagged']:.1%} of {op['real_videos']}, val REAL crops "
        f"flagged {op['val_real_crops_flagged']:.1%}, val FAKE crops caught {op['val_fake_crops_caught']:.1%}"
    )
    return 0
