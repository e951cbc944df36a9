"""Batch-scan throughput: ten-second videos per minute with 1 worker, N workers and Ray local, on one folder.

The folder is made once (cached in the temp folder): N clips of 10 s at 30 fps, 1080p (or --height 720), H.264,
each a face on a grey background, a different stretch of the face for each clip. The face comes from the shared
talking-head sample when ../shared/data is present, else the cartoon face of benchmarks/synthetic.py (found by the face
detector, so every stage runs); the clips are made by benchmarks/pipeline.py's make_clip. Every run writes a fresh results file. The figures include starting the workers
and loading their models, as a user's scan does.

Run: python -m benchmarks.scan [--clips 8] [--height 720] [--workers 2] [--frames 32] [--no-ray]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.pipeline import make_clip  # the same face clip, same source
from deepfake_detection.scan import scan
from deepfake_detection.scan.run import available_cores

SECONDS, FPS = 10, 30


def make_folder(clips: int, height: int) -> tuple[Path, str]:
    folder = Path(tempfile.gettempdir()) / f"deepfake_bench_scan_{height}p_{clips}x{SECONDS}s"
    marker = folder / ".complete"
    if marker.is_file():
        return folder, marker.read_text().strip() + ", cached"
    folder.mkdir(exist_ok=True)
    kind = "no clips"
    for k in range(clips):
        t = time.perf_counter()
        kind = make_clip(
            folder / f"clip{k:02d}.mp4",
            seconds=SECONDS,
            fps=FPS,
            size=(height * 16 // 9, height),
            start=k * 37,
            sway_px=40,
        )
        print(f"made clip {k + 1}/{clips} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    marker.write_text(kind)
    return folder, kind


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--height", type=int, default=1080, choices=(720, 1080))
    ap.add_argument("--workers", type=int, default=available_cores(), help="the N of 'N workers' (default: cores)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray local run")
    args = ap.parse_args()

    folder, kind = make_folder(args.clips, args.height)
    runs = [("1 worker", dict(workers=1)), (f"{args.workers} workers", dict(workers=args.workers))]
    if not args.no_ray:
        try:
            import ray  # noqa: F401

            runs.append((f"Ray local, {args.workers} actors", dict(workers=args.workers, use_ray=True)))
        except ImportError:
            print("Ray not installed (pip install -e '.[ray]'): skipping the Ray run", file=sys.stderr)

    print(
        f"folder: {folder} ({args.clips} clips, {args.height}p {FPS} fps {SECONDS} s, {kind}); "
        f"{args.frames} sampled frames; {available_cores()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, kw) in enumerate(runs):
            out = Path(tmp) / f"run{i}.jsonl"
            s = scan([folder], out, num_frames=args.frames, progress=False, **kw)
            per_file = [r["elapsed_s"] for r in _records(out)]
            print(
                f"{name:>24s}: {s.videos_per_min:6.1f} videos/min  ({s.elapsed_s:5.1f} s for {s.scanned} "
                f"files incl. start-up; median {statistics.median(per_file):.2f} s per file in a worker; "
                f"{s.threads_per_worker} thread(s)/worker; verdicts {_short(s.verdicts)})"
            )
    print("goal: >= 30 ten-second videos per minute on 2 cores")


def _records(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


def _short(verdicts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in verdicts.items() if v)


if __name__ == "__main__":
    main()
