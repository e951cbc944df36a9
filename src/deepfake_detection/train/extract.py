"""Face-crop extraction for training: the very `media` and `faces` stages that `detect` runs (no skew).

Writes DIR/crops/<video>/<track>_<frame>.jpg, DIR/manifest.csv (path,label,group,split,video,track,time plus the
box and five landmarks in frame pixels) and DIR/done.txt; a rerun skips the videos already done.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import replace
from pathlib import Path

import cv2

from ..datasets import FIELDS, Sample
from ..errors import DeepfakeError
from ..faces import FaceConfig, track_faces
from ..media import DEFAULT_NUM_FRAMES, read_frames

log = logging.getLogger(__name__)

EXTRA_FIELDS = ("box", "landmarks", "detector_score")


def extract_faces(
    videos: list[Sample],
    out: str | Path,
    num_frames: int = DEFAULT_NUM_FRAMES,
    crop_size: int = 224,
    progress=None,
    source: str = "",
) -> dict[str, int]:
    """Extract crops for every video; returns counts of videos done, skipped (already done), failed, no face.
    Each row names its source (`source` where the video's own is empty) and method (the video's, else its label's
    lower case: "real" / "fake"), so that the manifest mixes with the others in training and per-source metrics."""
    out = Path(out)
    (out / "crops").mkdir(parents=True, exist_ok=True)
    done_file, manifest = out / "done.txt", out / "manifest.csv"
    done = set(done_file.read_text().split("\n")) if done_file.is_file() else set()
    cfg = replace(FaceConfig(), crop_size=crop_size)
    counts = {"done": 0, "skipped": 0, "failed": 0, "no_face": 0, "crops": 0}
    new_file = not manifest.is_file()
    with manifest.open("a", newline="") as mf, done_file.open("a") as df:
        writer = csv.writer(mf)
        if new_file:
            writer.writerow(FIELDS + EXTRA_FIELDS)
        for s in progress(videos) if progress else videos:
            key = str(Path(s.path).resolve())  # the same video named through a link or a relative path is done
            if key in done:
                counts["skipped"] += 1
                continue
            try:
                frames = read_frames(s.path, num_frames)
            except DeepfakeError as e:
                log.warning("skipping %s: %s", s.path, e)
                counts["failed"] += 1
                continue
            tracks = track_faces(frames, cfg)
            counts["no_face"] += not tracks
            vid = s.video or Path(s.path).stem
            (out / "crops" / vid).mkdir(exist_ok=True)
            for tr in tracks:
                for pos, det, crop in zip(tr.frame_positions, tr.detections, tr.crops):
                    rel = Path("crops") / vid / f"{tr.track_id}_{frames.indices[pos]:06d}.jpg"
                    cv2.imwrite(str(out / rel), crop[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
                    writer.writerow(
                        [
                            str(rel),
                            s.label,
                            s.group,
                            s.split,
                            vid,
                            tr.track_id,
                            f"{frames.times[pos]:.3f}",
                            s.source or source,
                            s.method or s.label.lower(),
                            # coordinates in source pixels, as in reports
                            json.dumps([round(v / frames.scale, 1) for v in det.box]),
                            json.dumps(
                                [[round(x / frames.scale, 1), round(y / frames.scale, 1)] for x, y in det.landmarks]
                            ),
                            f"{det.score:.3f}",
                        ]
                    )
                    counts["crops"] += 1
            mf.flush()
            df.write(key + "\n")
            df.flush()
            counts["done"] += 1
    return counts
