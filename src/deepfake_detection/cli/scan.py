"""`deepfake-detect scan`: folders of media into a resumable JSON Lines file (+ CSV / HTML)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import DeepfakeError
from . import _options as opt

RAY_LOCAL = "local"  # `--ray` with no address


def register(sub) -> None:
    s = sub.add_parser(
        "scan",
        help="scan folders of videos and images into a resumable JSON Lines file (+ CSV/HTML)",
        description="Find every video and image under the paths (by name or content, recursively), "
        "run detect on each in worker processes (or Ray actors) and append one JSON line "
        "per file to --out. Rerunning skips files already done (same path and SHA-256). "
        "Lines are in completion order. Exit status 0 when every file got a verdict, 1 "
        "when any failed. See docs/SCAN.md.",
    )
    s.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (walked recursively)")
    s.add_argument("--out", required=True, help="JSON Lines results file (appended to; resumable)")
    s.add_argument("--csv", help="also write a CSV table of all results")
    s.add_argument("--html", help="also write a self-contained HTML report (sortable table, thumbnails)")
    s.add_argument(
        "--workers",
        type=opt.positive_int,
        help="worker processes or Ray actors, each with its own model (default: one per core, at most 4)",
    )
    s.add_argument("--retry-failed", action="store_true", help="scan files whose last result was ERROR again")
    s.add_argument(
        "--ray",
        nargs="?",
        const=RAY_LOCAL,
        metavar="ADDRESS",
        help="run on Ray: a local instance without ADDRESS, else a cluster (auto, HOST:PORT, "
        "ray://HOST:PORT); needs the ray extra",
    )
    s.add_argument(
        "--ship-bytes",
        action="store_true",
        help="with --ray: send file contents through the object store (no shared filesystem needed)",
    )
    opt.add_frames(s)
    opt.add_model(s)
    opt.add_threshold(s)
    opt.add_trust_list(s)
    opt.add_json(s, "print the summary as one JSON object")
    opt.add_quiet(s)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scan import scan

    paths = list(args.paths)
    if args.ray not in (None, RAY_LOCAL, "auto") and ":" not in args.ray and Path(args.ray).exists():
        paths.insert(0, args.ray)  # `scan --ray footage/ ...`: a folder, not an address; Ray runs locally
        args.ray = RAY_LOCAL
    if not paths:
        raise DeepfakeError("scan needs at least one PATH (file or folder)")
    use_ray = args.ray is not None
    if args.ship_bytes and not use_ray:
        raise DeepfakeError("--ship-bytes goes with --ray")
    if use_ray:
        opt.require_extra("ray", "scan --ray")
    summary = scan(
        paths,
        args.out,
        csv=args.csv,
        html=args.html,
        workers=args.workers,
        retry_failed=args.retry_failed,
        model=args.model,
        num_frames=args.frames,
        threshold=args.threshold,
        trust_list=args.trust_list,
        use_ray=use_ray,
        ray_address=None if args.ray in (None, RAY_LOCAL) else args.ray,
        ship_bytes=args.ship_bytes,
        progress=opt.show_progress(args.quiet),
    )
    if args.json:
        print(json.dumps(summary.to_dict()))
        return 0 if summary.ok else 1
    v = summary.verdicts
    skipped = sum(summary.skipped_unreadable.values())
    print(
        f"{summary.files} media files: {v['FAKE']} FAKE, {v['REAL']} REAL, {v['NO_FACE']} NO_FACE, "
        f"{v['ERROR']} ERROR; scanned now {summary.scanned}, already done {summary.already_done}; "
        f"skipped {summary.skipped_non_media} non-media, {skipped} unreadable"
    )
    for reason, n in sorted(summary.skipped_unreadable.items()):
        print(f"  skipped {n}: {reason}")
    if summary.scanned:
        rate = f"{summary.files_per_min:.1f} files/min"
        if summary.videos_per_min:  # a rerun of images only, or of failures only, has no video rate to speak of
            rate += f", {summary.videos_per_min:.1f} videos/min"
        print(
            f"{summary.elapsed_s:.1f} s, {rate} ({summary.backend}, {summary.workers} worker(s) x "
            f"{summary.threads_per_worker} thread(s))"
        )
    else:
        print(f"{summary.elapsed_s:.1f} s: nothing new to scan (ERROR lines are retried with --retry-failed)")
    print(f"results: {summary.out}" + "".join(f", {p}" for p in (summary.csv, summary.html) if p))
    return 0 if summary.ok else 1
