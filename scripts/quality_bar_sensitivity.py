"""How the quality bar moves the operating point, on the calibration half only (the held-apart half is not read).

    python scripts/quality_bar_sensitivity.py --footage data/calib/footage_KEY.jsonl --target-fpr 0.03

For each bar: the threshold `calibrate` would choose, the share of calibration real items flagged, the share with
no judgeable face, and the validation talking-head fakes caught (the only labelled fakes of the calibration half).
"""

from __future__ import annotations

import argparse
import itertools
import json

from deepfake_detection.decision import QualityBar
from deepfake_detection.train.operating import (
    Face,
    choose_threshold,
    flagged_share,
    real_footage_items,
    verdict,
    video_items,
)
from deepfake_detection.train.sources import talking_head_videos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", required=True, help="the cache written by calibrate --real-footage")
    ap.add_argument("--target-fpr", type=float, default=0.03)
    ap.add_argument("--real-footage", default="data/real-footage")
    ap.add_argument("--real-footage-manifest", default="../shared/data/real-footage/MANIFEST.csv")
    ap.add_argument("--talking-heads", default="data/talking-heads")
    ap.add_argument("--talking-heads-manifest", default="../shared/data/talking-heads/MANIFEST.csv")
    args = ap.parse_args()

    faces = {}
    for line in open(args.footage):
        rec = json.loads(line)
        faces[rec["path"]] = [Face(**f) for f in rec["faces"]]
    items = real_footage_items(args.real_footage_manifest, args.real_footage)
    items += video_items(talking_head_videos(args.talking_heads_manifest, args.talking_heads), {"val": "calibration"})
    items = [it for it in items if it.part == "calibration" and it.path in faces]
    sets = {
        "real_footage": [it for it in items if it.source == "real_footage"],
        "talking_heads": [it for it in items if it.source == "talking_heads" and it.label == "REAL"],
    }
    fakes = [it for it in items if it.label == "FAKE"]
    real = [it for v in sets.values() for it in v]
    print("| min size px | min sharpness | max yaw | threshold | real flagged | real NO_FACE | val fakes caught |")
    print("|---|---|---|---|---|---|---|")
    for size, sharp, yaw in itertools.product((32, 48, 64), (0.0, 0.05, 0.1, 0.2), (60, 90)):
        bar = QualityBar(size, sharp, yaw, 3)
        t, rule = choose_threshold(sets, faces, bar, args.target_fpr)
        no_face = sum(verdict(faces[it.path], bar, t, rule)[0] == "NO_FACE" for it in real) / len(real)
        print(
            f"| {size} | {sharp} | {yaw} | {t:.3f} | {flagged_share(real, faces, bar, t, rule):.1%} | "
            f"{no_face:.1%} | {flagged_share(fakes, faces, bar, t, rule):.1%} of {len(fakes)} |"
        )


if __name__ == "__main__":
    main()
