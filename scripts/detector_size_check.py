"""Issue 18: how small can the full-frame face search be? Recall and cost of YuNet at several input sizes.

    python scripts/detector_size_check.py data/uadfv ../shared/data/dfdc-videos-sample data/real-footage [--frames 8]

For every video (and picture) under the folders, `--frames` frames are sampled as `detect` samples them and searched
with `faces.detect_faces` at each `--sizes` value of `FaceConfig.detect_max_side` (today 640). Faces found at 640 are
the reference; a face counts as kept at another size when a detection there overlaps it with IoU >= 0.5. Recall is
given for faces the decision can use (shorter side >= the quality bar's 48 px) and for all faces, with the CPU
milliseconds per searched frame (one ONNX Runtime thread, the setting of the faces thread).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from deepfake_detection.errors import DeepfakeError
from deepfake_detection.faces import FaceConfig, _iou, box_size, detect_faces
from deepfake_detection.media import read_frames
from deepfake_detection.models.card import QualityBar

SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".jpg", ".jpeg", ".png"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--sizes", type=int, nargs="+", default=[640, 512, 480, 416, 320])
    args = ap.parse_args()
    judged_px = QualityBar().min_size
    files = sorted(p for f in args.folders for p in Path(f).rglob("*") if p.suffix.lower() in SUFFIXES)
    frames = []
    for p in files:
        try:
            frames += read_frames(p, args.frames).images
        except DeepfakeError:
            continue
    print(f"{len(files)} files, {len(frames)} frames")
    cpu, found = {}, {}
    for size in args.sizes:
        cfg = replace(FaceConfig(), detect_max_side=size)
        detect_faces(frames[0], cfg)  # warm the session
        t = time.process_time()
        found[size] = [detect_faces(img, cfg) for img in frames]
        cpu[size] = (time.process_time() - t) / len(frames) * 1000
    ref = found[640]
    n_all = sum(len(d) for d in ref)
    n_judged = sum(box_size(d) >= judged_px for dets in ref for d in dets)
    print(f"reference (640 px): {n_all} faces, {n_judged} of them >= {judged_px:.0f} px")
    print("| detect_max_side | faces >= 48 px kept | all faces kept | extra | CPU ms / frame |\n|---|---|---|---|---|")
    for size in args.sizes:
        kept_all = kept_judged = extra = 0
        for ref_dets, dets in zip(ref, found[size]):
            for r in ref_dets:
                hit = any(_iou(r.box, d.box) >= 0.5 for d in dets)
                kept_all += hit
                kept_judged += hit and box_size(r) >= judged_px
            extra += sum(not any(_iou(r.box, d.box) >= 0.5 for r in ref_dets) for d in dets)
        print(
            f"| {size} | {kept_judged}/{n_judged} ({kept_judged / max(n_judged, 1):.1%}) | "
            f"{kept_all}/{n_all} ({kept_all / max(n_all, 1):.1%}) | {extra} | {cpu[size]:.1f} |"
        )


if __name__ == "__main__":
    main()
