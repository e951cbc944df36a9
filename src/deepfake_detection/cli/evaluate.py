"""`deepfake-detect evaluate`: a model's metrics on labelled crops or labelled videos."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import DeepfakeError
from . import _options as opt


def register(sub) -> None:
    s = sub.add_parser(
        "evaluate",
        help="score a model on labelled crops (manifest) or labelled videos",
        description="Frame- and video-level AUC, log loss, EER, AP, balanced accuracy, accuracy at "
        "the threshold, ECE and the always-FAKE baseline; ROC and reliability PNGs. "
        "A sequence model is evaluated from its run directory on a face-track manifest.",
    )
    s.add_argument(
        "--model",
        help="shipped model name, exported .onnx path, or a sequence run directory (default: the shipped default)",
    )
    s.add_argument(
        "--data",
        required=True,
        help="manifest .csv of crops (several: comma-separated), a DFDC "
        "metadata.json video folder, or REAL/ FAKE/ folders",
    )
    s.add_argument("--split", help="only manifest rows of this split (e.g. test)")
    opt.add_frames(s)
    opt.add_threshold(s)
    s.add_argument("--out", help="folder for metrics.json, metrics.md, roc.png, reliability.png")
    opt.add_json(s, "print the metrics as one JSON object")
    opt.add_quiet(s)
    s.set_defaults(func=run)


def _sequence_run(args: argparse.Namespace) -> int:
    """Sequence models (CNN features + GRU) are scored from their run directory on a face-track manifest."""
    from .. import evaluate as ev
    from ..train.sequence import score_sequence_run

    y, p = score_sequence_run(args.model, args.data, args.split)
    if len(y) == 0:
        raise DeepfakeError(f"no face tracks in {args.data}" + (f" with split={args.split}" if args.split else ""))
    threshold = 0.5 if args.threshold is None else args.threshold
    result = {
        "model": args.model,
        "data": args.data,
        "split": args.split or "all",
        "threshold": threshold,
        "video": ev.binary_metrics(y, p, threshold),
    }
    if args.out:
        ev.write_results(result, y, p, args.out, f"{args.model} on {args.data}")
    print(json.dumps(result) if args.json else ev.markdown_table(result))
    return 0


def run(args: argparse.Namespace) -> int:
    # Metrics and plots need scikit-learn and matplotlib: say so before scoring a single video.
    opt.require_extra("train", "evaluate", ["sklearn", "matplotlib"] if args.out else ["sklearn"])
    from .. import evaluate as ev
    from ..datasets import load_labelled
    from ..models.serving import load_scorer
    from ..pipeline import Detector

    if args.model and (Path(args.model) / "best.pt").is_file():
        opt.require_extra("train", "evaluate (sequence run)")
        return _sequence_run(args)
    scorer = load_scorer(args.model)
    threshold = scorer.card.effective_threshold(args.threshold)
    kind, samples = load_labelled(args.data)
    if args.split:
        samples = [s for s in samples if s.split == args.split]
    if not samples:
        raise DeepfakeError(f"no samples in {args.data}" + (f" with split={args.split}" if args.split else ""))
    result: dict = {"model": scorer.name, "data": args.data, "split": args.split or "all", "threshold": threshold}
    rows = None
    if kind == "crops":
        metrics, y, p = ev.evaluate_crops(scorer, samples, threshold, opt.progress_fn(args.quiet, "evaluate", "batch"))
    else:
        detector = Detector(scorer, num_frames=args.frames, threshold=threshold)
        metrics, rows, y, p = ev.evaluate_videos(
            detector, samples, threshold, opt.progress_fn(args.quiet, "evaluate", "video")
        )
    result.update(metrics)
    if args.out:
        ev.write_results(result, y, p, args.out, f"{scorer.name} on {Path(args.data).name}", rows)
    if args.json:
        print(json.dumps(result))
        return 0
    print(ev.markdown_table(result))
    for key, auc in result.get("per_source_video_auc", {}).items():
        print(f"video AUC {key:32s} {auc:.3f}")
    if "no_face" in result.get("video", {}):
        v = result["video"]
        print(f"videos without a face: {v['no_face']}, errors: {v['errors']} (not in the table above)")
        print(
            f"video AUC over all {v['n'] + v['no_face'] + v['errors']} inputs, unscored at P = 0.5: {v['auc_all_inputs']:.4f}"
        )
    return 0
