"""End-to-end speed on a 10 s 1080p 30 fps clip: time per stage and the ratio to a decode-only floor.

The clip is made once (cached in the temp folder): frames of a real talking-head sample scaled to 1920x1080
when ../shared/data is present, else a synthetic moving pattern (then no face is found and the model stage is
skipped, which the output says). Run: python benchmarks/pipeline.py [--repeat 3] [--frames 32]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from deepfake_detection.models.serving import load_scorer
from deepfake_detection.pipeline import Detector

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared/data/dfdc-videos-sample/real_videoretalking_face1.mp4"


def make_clip(path: Path, seconds: int = 10, fps: int = 30, size=(1920, 1080)) -> str:
    source = []
    if SAMPLE.is_file():
        with av.open(str(SAMPLE)) as c:
            source = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    w, h = size
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for i in range(seconds * fps):
            if source:
                face = source[i % len(source)]
                img = np.full((h, w, 3), 60, np.uint8)
                side = h * 2 // 3
                img[h // 6 : h // 6 + side, (w - side) // 2 : (w + side) // 2] = cv2.resize(face, (side, side))
            else:
                img = np.roll(np.tile(np.linspace(0, 255, w, dtype=np.uint8)[None, :, None], (h, 1, 3)), i * 8, 1)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    return "real face" if source else "synthetic, no face"


def decode_floor(path: Path) -> float:
    t = time.perf_counter()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in c.decode(stream):
            pass
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--frames", type=int, default=32)
    args = ap.parse_args()

    clip = Path(tempfile.gettempdir()) / "deepfake_bench_1080p30_10s.mp4"
    kind = "cached"
    if not clip.is_file():
        kind = make_clip(clip)
    detector = Detector(load_scorer(), num_frames=args.frames)
    detector.detect(clip)  # warm-up: ONNX Runtime session, page cache

    floors, runs = [], []
    for _ in range(args.repeat):
        floors.append(decode_floor(clip))
        runs.append(detector.detect(clip))
    floor = statistics.median(floors)
    print(f"clip: {clip} (1920x1080, 30 fps, 10 s, {kind}); {args.frames} sampled frames; median of {args.repeat}")
    print(f"decode-only floor (every frame, no RGB conversion): {floor:6.2f} s")
    for stage in ("media", "faces", "model", "total"):
        t = statistics.median(r.timings[stage] for r in runs)
        print(f"{stage:>6s}: {t:6.2f} s   ratio to floor {t / floor:5.2f}")
    r = runs[-1]
    print(f"verdict {r.verdict}, faces {len(r.faces)}, P(fake) {r.probability}")
    total = statistics.median(r.timings["total"] for r in runs)
    print(f"goal < 10 s on 2 cores: {'met' if total < 10 else 'NOT met'} ({total:.2f} s)")


if __name__ == "__main__":
    main()
