"""The naive floor for one video: the fastest straightforward way to get the sampled frames, find the faces on
them and classify the crops, each stage measured on its own. The sum is what a pipeline that does all the work
plainly cannot beat; the shipped pipeline goes below it by doing less work (see benchmarks/pipeline.py).

    python -m benchmarks.floor [CLIP] [--frames 32] [--repeat 3]

Stages, each the best of a few plain ways, timed as the median of --repeat runs:
  decode    every frame decoded (PyAV, FFmpeg threads AUTO), only the sampled ones converted to RGB; per-frame
            seeking is timed too and loses on H.264 with keyframes seconds apart
  faces     YuNet on each sampled frame, downscaled to 640 px
  classify  the shipped ONNX model on all crops in one batch (with its test-time flip, as served)
Without CLIP it uses the 10 s 1080p30 clip of benchmarks/pipeline.py (made on first use).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import av
import numpy as np

from deepfake_detection.faces import FaceConfig, crop_face, detect_faces
from deepfake_detection.models.serving import load_scorer


def sampled_indices(total: int, n: int) -> list[int]:
    return sorted({int(round(x)) for x in np.linspace(0, total - 1, min(n, total))})


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for p in c.demux(c.streams.video[0]) if p.size)


def decode_all(path: Path, wanted: set[int]) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for i, f in enumerate(c.decode(s)):
            if i in wanted:
                out.append(f.to_ndarray(format="rgb24"))
            if len(out) == len(wanted):
                break
    return out


def decode_seeking(path: Path, wanted: list[int]) -> list[np.ndarray]:
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        step = 1 / float(s.average_rate) / float(s.time_base)
        for i in wanted:
            pts = int(round(i * step)) + (s.start_time or 0)
            c.seek(pts, stream=s, backward=True, any_frame=False)
            for f in c.decode(s):
                if f.pts is not None and f.pts >= pts:
                    out.append(f.to_ndarray(format="rgb24"))
                    break
    return out


def median_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def naive_floor(path: Path, frames: int = 32, repeat: int = 3, scorer=None) -> dict[str, float]:
    """Seconds per stage of the plain pipeline on `path`, and their sum as 'floor'."""
    wanted = sampled_indices(frame_count(path), frames)
    t_all, images = median_time(lambda: decode_all(path, set(wanted)), repeat)
    t_seek, _ = median_time(lambda: decode_seeking(path, wanted), 1)
    cfg = FaceConfig()
    t_faces, dets = median_time(lambda: [detect_faces(img, cfg) for img in images], repeat)
    crops = [crop_face(img, d[0], 128) for img, d in zip(images, dets) if d]
    scorer = scorer or load_scorer()
    t_model = 0.0
    if crops:
        batch = np.stack(crops)
        scorer.logits(batch)  # warm-up
        t_model, _ = median_time(lambda: scorer.logits(batch), repeat)
    decode = min(t_all, t_seek)
    return {
        "decode_all": t_all,
        "decode_seeking": t_seek,
        "decode": decode,
        "faces": t_faces,
        "classify": t_model,
        "crops": len(crops),
        "floor": decode + t_faces + t_model,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", nargs="?")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.clip:
        clip = Path(args.clip)
    else:
        from benchmarks.pipeline import bench_clip

        clip = bench_clip()
    f = naive_floor(clip, args.frames, args.repeat)
    print(f"clip: {clip}; {args.frames} sampled frames; median of {args.repeat}")
    print(f"decode, all frames + RGB of the sampled: {f['decode_all']:6.3f} s")
    print(f"decode, one seek per sampled frame:      {f['decode_seeking']:6.3f} s")
    print(f"faces, YuNet at 640 px on each frame:     {f['faces']:6.3f} s")
    print(f"classify, {f['crops']} crops in one ONNX batch:  {f['classify']:6.3f} s")
    print(f"naive floor (sum of the fastest):         {f['floor']:6.3f} s")


if __name__ == "__main__":
    main()
