"""`deepfake-detect prepare-dfdc | prepare | extract-faces`: training sources into manifests of one format."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import DeepfakeError
from . import _options as opt


def register(sub) -> None:
    s = sub.add_parser("prepare-dfdc", help="build a grouped train/val/test manifest from the DFDC face-crop snapshot")
    s.add_argument("snapshot", help="folder holding metadata.csv and faces_224/ (see shared DATA.md)")
    s.add_argument("--out", default="data/dfdc/manifest.csv", help="manifest to write (default: %(default)s)")
    s.add_argument(
        "--train-fakes-per-group",
        type=opt.positive_int,
        default=2,
        help="FAKE crops kept per source video in train (default: %(default)s)",
    )
    s.add_argument("--seed", type=int, default=0, help="split seed (default: %(default)s)")
    s.set_defaults(func=run_dfdc)

    s = sub.add_parser(
        "prepare",
        help="build a grouped manifest for one more training source (ffpp, talking-heads)",
        description="Every source ends as one manifest of the same format (path,label,group,split,"
        "video,track,time,source,method). ffpp: the keep-listed FaceForensics++ crops, "
        "re-cut with the serving crop recipe, grouped by aligned roi blocks. talking-heads:"
        " the videos of the manifest, split by person and cut by extract-faces. Rerunnable:"
        " existing crops are reused. DFDC has its own command, prepare-dfdc.",
    )
    s.add_argument("source", choices=("ffpp", "talking-heads"), help="which source")
    s.add_argument(
        "snapshot",
        help="ffpp: the extracted snapshot folder (holding image/train/...); talking-heads: "
        "the folder of videos named by the manifest's file column",
    )
    s.add_argument("--out", required=True, help="output folder (crops + manifest)")
    s.add_argument("--keep", help="ffpp: the keep-list (only these files are used)")
    s.add_argument("--manifest", help="talking-heads: MANIFEST.csv (label, generator, source_repo per file)")
    opt.add_frames(s, "talking-heads: frames per video")
    s.add_argument("--seed", type=int, default=0, help="split seed (default: %(default)s)")
    opt.add_json(s, "print the counts as JSON")
    opt.add_quiet(s)
    s.set_defaults(func=run_source)

    s = sub.add_parser(
        "extract-faces",
        help="cut face crops + landmarks from labelled videos with the detect stages",
        description="Runs the same media and faces stages as `detect` and writes crops, landmarks "
        "and a manifest (label, group = source real video, track, frame time). "
        "Resumable: videos already listed in OUT/done.txt are skipped.",
    )
    s.add_argument(
        "source", help="folder with REAL/ and FAKE/, a DFDC metadata.json folder, or a manifest .csv of videos"
    )
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument(
        "--source-name",
        help="the manifest's `source` for videos that name none (default: the source folder's name, e.g. uadfv)",
    )
    opt.add_frames(s)
    s.add_argument(
        "--crop-size", type=opt.positive_int, default=224, help="saved crop side in px (default: %(default)s)"
    )
    s.add_argument("--split-seed", type=int, default=0, help="assign grouped train/val/test splits with this seed")
    s.add_argument(
        "--val", type=opt.probability, default=0.2, help="fraction of groups for validation (default: %(default)s)"
    )
    s.add_argument(
        "--test", type=opt.probability, default=0.2, help="fraction of groups for test (default: %(default)s)"
    )
    opt.add_quiet(s)
    s.set_defaults(func=run_extract)


def run_dfdc(args: argparse.Namespace) -> int:
    from ..train.prepare import prepare_dfdc

    counts = prepare_dfdc(args.snapshot, args.out, args.train_fakes_per_group, args.seed)
    for (split, label), n in sorted(counts.items()):
        print(f"{split:5s} {label:4s} {n}")
    print(f"manifest written to {args.out}")
    return 0


def run_source(args: argparse.Namespace) -> int:
    from ..train import sources

    bar = opt.progress_fn(args.quiet, f"prepare {args.source}")
    if args.source == "ffpp":
        if not args.keep:
            raise DeepfakeError("prepare ffpp needs --keep (shared/data/ffpp-c23-crops/keep.txt)")
        counts = sources.prepare_ffpp(args.snapshot, args.keep, args.out, seed=args.seed, progress=bar)
        manifest = Path(args.out) / "manifest.csv"
    else:
        if not args.manifest:
            raise DeepfakeError("prepare talking-heads needs --manifest (shared/data/talking-heads/MANIFEST.csv)")
        counts = sources.prepare_talking_heads(
            args.manifest, args.snapshot, args.out, frames=args.frames, seed=args.seed, progress=bar
        )
        manifest = Path(args.out) / "crops.csv"
    print(json.dumps(counts) if args.json else "\n".join(f"{k:28s} {v}" for k, v in counts.items()))
    print(f"manifest written to {manifest}", file=sys.stderr if args.json else sys.stdout)
    return 0


def run_extract(args: argparse.Namespace) -> int:
    from ..datasets import grouped_split, load_labelled
    from ..train.extract import extract_faces

    kind, samples = load_labelled(args.source)
    if args.split_seed is not None and not any(s.split for s in samples):
        samples = grouped_split(samples, val=args.val, test=args.test, seed=args.split_seed)
    counts = extract_faces(
        samples,
        args.out,
        num_frames=args.frames,
        crop_size=args.crop_size,
        progress=opt.progress_fn(args.quiet, "extract faces", "video"),
        source=args.source_name or Path(args.source).resolve().name.lower().removesuffix(".csv"),
    )
    print(", ".join(f"{k}: {v}" for k, v in counts.items()) + f"; manifest {args.out}/manifest.csv")
    return 1 if counts["failed"] else 0
