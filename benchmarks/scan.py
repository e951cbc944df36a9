"""Batch-scan throughput: ten-second videos per minute with 1 worker, N workers and Ray local, on one folder.

The folder is made once (cached in the temp folder): N clips of 10 s at 30 fps, 1080p (or --height 720), H.264,
each a face on a grey background, a different stretch of the face for each clip. The face comes from the shared
talking-head sample when ../shared/data is present, else the cartoon face of tests/conftest.py (found by the face
detector, so every stage runs). Every run writes a fresh results file. The figures include starting the workers
and loading their models, as a user's scan does.

Run: python benchmarks/scan.py [--clips 8] [--height 720] [--workers 2] [--frames 32] [--no-ray]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from deepfake_detection.scan import scan
from deepfake_detection.scan.run import available_cores

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared/data/dfdc-videos-sample/real_videoretalking_face1.mp4"
SECONDS, FPS = 10, 30


def _faces(count: int) -> tuple[list[np.ndarray], str]:
    if SAMPLE.is_file():
        with av.open(str(SAMPLE)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        return [frames[i % len(frames)] for i in range(count)], "real face (shared sample)"
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import drawn_face  # the synthetic face the tests use

    return [drawn_face(cx=130 + (i % 60), cy=120 + (i % 20) // 2) for i in range(count)], "synthetic face"


def make_clip(path: Path, faces: list[np.ndarray], start: int, height: int) -> None:
    w, h = height * 16 // 9, height
    side = h * 2 // 3
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(SECONDS * FPS):
            img = np.full((h, w, 3), 60, np.uint8)
            x = (w - side) // 2 + int(40 * np.sin(i / 25))  # the head moves a little
            img[h // 6 : h // 6 + side, x : x + side] = cv2.resize(faces[(start + i) % len(faces)], (side, side))
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)


def make_folder(clips: int, height: int) -> tuple[Path, str]:
    folder = Path(tempfile.gettempdir()) / f"deepfake_bench_scan_{height}p_{clips}x{SECONDS}s"
    marker = folder / ".complete"
    if marker.is_file():
        return folder, marker.read_text().strip() + ", cached"
    folder.mkdir(exist_ok=True)
    faces, kind = _faces(SECONDS * FPS)
    for k in range(clips):
        t = time.perf_counter()
        make_clip(folder / f"clip{k:02d}.mp4", faces, start=k * 37, height=height)
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

    print(f"folder: {folder} ({args.clips} clips, {args.height}p {FPS} fps {SECONDS} s, {kind}); "
          f"{args.frames} sampled frames; {available_cores()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, kw) in enumerate(runs):
            out = Path(tmp) / f"run{i}.jsonl"
            s = scan([folder], out, num_frames=args.frames, progress=False, **kw)
            per_file = [r["elapsed_s"] for r in _records(out)]
            print(f"{name:>24s}: {s.videos_per_min:6.1f} videos/min  ({s.elapsed_s:5.1f} s for {s.scanned} "
                  f"files incl. start-up; median {statistics.median(per_file):.2f} s per file in a worker; "
                  f"{s.threads_per_worker} thread(s)/worker; verdicts {_short(s.verdicts)})")
    print("goal: >= 30 ten-second videos per minute on 2 cores")


def _records(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines()]


def _short(verdicts: dict[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in verdicts.items() if v)


if __name__ == "__main__":
    main()
