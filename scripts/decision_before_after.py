"""The old decision (most suspicious face of any size decides, one threshold) against the new one (quality bar,
threshold rising with the number of judged faces) on the same scored footage, for one model.

    python scripts/decision_before_after.py --footage data/calib/footage_KEY.jsonl \
        --card CALIBRATED.json --old-card src/deepfake_detection/models/weights/efficientnet_lite0.json

`--footage` is the cache `calibrate --real-footage` writes (every face's calibrated P(FAKE) and quality under
`--card`'s calibration); the old card's own calibration and threshold are applied to the same logits.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from deepfake_detection.datasets import load_real_fake_folder
from deepfake_detection.decision import QualityBar
from deepfake_detection.models.card import ModelCard
from deepfake_detection.train.operating import (
    Face,
    Item,
    caught_table,
    false_alarm_table,
    real_footage_items,
    video_items,
)
from deepfake_detection.train.sources import talking_head_videos

NO_BAR = QualityBar(min_size=0, min_sharpness=0, max_yaw=180, min_frames=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", required=True)
    ap.add_argument("--card", required=True, help="the calibrated card the footage was scored with")
    ap.add_argument("--old-card", required=True, help="the card whose calibration and threshold were used before")
    ap.add_argument("--real-footage", default="data/real-footage")
    ap.add_argument("--real-footage-manifest", default="../shared/data/real-footage/MANIFEST.csv")
    ap.add_argument("--talking-heads", default="data/talking-heads")
    ap.add_argument("--talking-heads-manifest", default="../shared/data/talking-heads/MANIFEST.csv")
    ap.add_argument("--fake-videos", default="data/uadfv")
    args = ap.parse_args()

    new, old = json.load(open(args.card)), json.load(open(args.old_card))
    a, b = new["calibration"]["a"], new["calibration"]["b"]
    oa, ob = old["calibration"]["a"], old["calibration"]["b"]

    def recalibrated(p: float) -> float:
        z = (np.log(p / (1 - p)) - b) / a
        return float(1 / (1 + np.exp(-(oa * z + ob))))

    faces = {}
    for line in open(args.footage):
        rec = json.loads(line)
        faces[rec["path"]] = [Face(**f) for f in rec["faces"]]
    old_faces = {
        k: [replace(f, probability=recalibrated(min(max(f.probability, 1e-9), 1 - 1e-9))) for f in v]
        for k, v in faces.items()
    }
    items = real_footage_items(args.real_footage_manifest, args.real_footage)
    items += video_items(
        talking_head_videos(args.talking_heads_manifest, args.talking_heads),
        {"val": "calibration", "test": "held_apart"},
    )
    items += [Item(s.path, s.label, "uadfv", "", False, "held_apart") for s in load_real_fake_folder(args.fake_videos)]
    items = [it for it in items if it.path in faces]
    held = [it for it in items if it.label == "REAL" and it.part == "held_apart" and it.source != "uadfv"]
    every_real = [it for it in items if it.label == "REAL" and it.source != "uadfv"]
    fakes = [it for it in items if it.label == "FAKE"]
    card = ModelCard.from_dict(new)
    decisions = {
        "before": (old_faces, NO_BAR, old["threshold"], None),
        "after": (faces, card.quality_bar, card.threshold, card.faces_rule),
    }
    for name, (fc, bar, t, r) in decisions.items():
        print(f"## {name}: threshold {t:.3f}, bar {bar}, faces rule {r}")
        for label, subset in (("held-apart real", held), ("all real footage and talking heads", every_real)):
            table = false_alarm_table(subset, fc, bar, t, r)
            print(
                f"{label}: "
                + "; ".join(f"{k} {v['flagged']:.1%} of {v['items']}" for k, v in table["condition"].items())
            )
            print(
                f"{label} by judged faces: "
                + "; ".join(f"{k} {v['flagged']:.1%} of {v['items']}" for k, v in table["judged_faces"].items())
            )
        caught = caught_table(fakes, fc, bar, t, r)
        print("fakes caught: " + "; ".join(f"{k} {v['caught']:.1%} of {v['videos']}" for k, v in caught.items()))
        print()


if __name__ == "__main__":
    main()
