"""Batch-scan throughput: ten-second videos per minute with 1 worker, N workers and Ray local, on one folder.

The folder is made once (cached in the temp folder): N clips of 10 s at 30 fps, 1080p (or --height 720), H.264,
each a face on a grey background, a different stretch of the face for each clip. The face comes from the shared
talking-head sample when ../shared/data is present, else the cartoon face of benchmarks/synthetic.py (found by the face
detector, so every stage runs); the clips are made by benchmarks/pipeline.py's make_clip. Every run writes a fresh results file. The figures include starting the workers
and loading their models, as a user's scan does.

Next to the scan rates it prints what plain decoding allows on the same machine in the same run: the same folder
decoded by one single-threaded `ffmpeg -threads 1 ... -f null` process per core (the FFmpeg program on PATH, else
imageio-ffmpeg's static build: `pip install -e '.[bench]'`), in videos per minute. Goal (issue 18): a scan with one
worker per core at >= 80 % of that rate. Then benchmarks/scan_costs.py splits one worker's CPU per file (its decode,
the classifiers, the rest) and prints the ceiling that the decode and the classifiers alone leave.

Run: python -m benchmarks.scan [--clips 8] [--height 720] [--workers 2] [--frames 32] [--no-ray]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.pipeline import decode_command, ffmpeg_program, make_clip  # make_clip: the same face clip
from deepfake_detection.scan import scan
from deepfake_detection.scan.run import available_cores

SECONDS, FPS = 10, 30


def make_folder(clips: int, height: int, noise: float = 0.0) -> tuple[Path, str]:
    """`clips` clips of a face on grey; with `noise`, camera-like sensor noise at 5 Mbit/s (720p) / 12 Mbit/s."""
    tag = f"_noise{noise:g}" if noise else ""
    folder = Path(tempfile.gettempdir()) / f"deepfake_bench_scan_{height}p_{clips}x{SECONDS}s{tag}"
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
            noise=noise,
            bit_rate=5_000_000 if height == 720 else 12_000_000,
        )
        print(f"made clip {k + 1}/{clips} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    marker.write_text(kind)
    return folder, kind


def plain_decode_rate(folder: Path, processes: int) -> tuple[float, str]:
    """Videos per minute when every clip is fully decoded by a single-threaded FFmpeg, `processes` at a time."""
    ffmpeg, how = ffmpeg_program()
    clips = sorted(folder.glob("*.mp4"))
    t = time.perf_counter()
    with ThreadPoolExecutor(processes) as pool:
        list(pool.map(lambda c: subprocess.run(decode_command(ffmpeg, c, threads=1), check=True), clips))
    return len(clips) / (time.perf_counter() - t) * 60, how


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--noise", type=float, default=0.0, help="camera sensor noise sigma (0: clean low-bitrate clips)")
    ap.add_argument("--height", type=int, default=1080, choices=(720, 1080))
    ap.add_argument("--workers", type=int, default=available_cores(), help="the N of 'N workers' (default: cores)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray local run")
    ap.add_argument("--model", help="shipped name, .onnx or fusion card (default: the shipped default)")
    args = ap.parse_args()

    folder, kind = make_folder(args.clips, args.height, args.noise)
    runs = [("1 worker", dict(workers=1)), (f"{args.workers} workers", dict(workers=args.workers))]
    if not args.no_ray:
        try:
            import ray  # noqa: F401

            runs.append((f"Ray local, {args.workers} actors", dict(workers=args.workers, use_ray=True)))
        except ImportError:
            print("Ray not installed (pip install -e '.[ray]'): skipping the Ray run", file=sys.stderr)

    mbit = statistics.mean(c.stat().st_size for c in folder.glob("*.mp4")) * 8 / SECONDS / 1e6
    print(
        f"folder: {folder} ({args.clips} clips, {args.height}p {FPS} fps {SECONDS} s, {mbit:.1f} Mbit/s, {kind}); "
        f"{args.frames} sampled frames; {available_cores()} cores; model {args.model or 'the shipped default'}"
    )
    plain, how = plain_decode_rate(folder, args.workers)
    print(f"{'plain decode':>24s}: {plain:6.1f} videos/min  ({args.workers} x single-threaded, {how})")
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, kw) in enumerate(runs):
            out = Path(tmp) / f"run{i}.jsonl"
            s = scan([folder], out, num_frames=args.frames, progress=False, model=args.model, **kw)
            rates[name] = s.videos_per_min
            per_file = statistics.median(r["elapsed_s"] for r in _records(out))
            print(
                f"{name:>24s}: {s.videos_per_min:6.1f} videos/min = {s.videos_per_min / plain:.0%} of plain decode "
                f"({s.elapsed_s:.1f} s for {s.scanned} files incl. start-up; median {per_file:.2f} s per file in a "
                f"worker, i.e. {kw['workers'] * 60 / per_file:.0f} videos/min once started; "
                f"{s.threads_per_worker} thread(s)/worker; verdicts {_short(s.verdicts)})"
            )
    best = rates[f"{args.workers} workers"]
    met = "met" if best >= 0.8 * plain else "NOT met"
    print(f"\ngoals:\n  {args.workers} workers >= 80 % of plain decode: {best / plain:.0%}, {met}")
    print("  >= 30 ten-second videos per minute on 2 cores: " + ("met" if best >= 30 else "NOT met"))
    print("\nwhere a worker's CPU goes (benchmarks/scan_costs.py, one worker, one core):", flush=True)
    costs = [sys.executable, "-m", "benchmarks.scan_costs", str(folder), "--frames", str(args.frames)]
    subprocess.run(costs + (["--model", args.model] if args.model else []), check=False)


def _records(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


def _short(verdicts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in verdicts.items() if v)


if __name__ == "__main__":
    main()
