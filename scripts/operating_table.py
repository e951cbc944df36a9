"""Print a model card's operating point as Markdown tables: real footage flagged by condition and by number of
judged faces (held-apart part), calibration sets, fake videos and validation crops caught.

    python scripts/operating_table.py src/deepfake_detection/models/weights/efficientnet_lite0.json
"""

from __future__ import annotations

import argparse
import json


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("card", help="model card .json written by `deepfake-detect calibrate --real-footage ...`")
    card = json.load(open(ap.parse_args().card))
    op = card["operating_point"]
    rule = card.get("faces_rule")
    print(
        f"threshold (one judged face) {card['threshold']:.3f}; quality bar {card.get('quality_bar')}; faces rule "
        f"{rule}\n"
    )
    for part in ("held_apart_real", "calibration_real"):
        for axis, title in (("condition", "condition"), ("judged_faces", "judged faces")):
            if part not in op:
                continue
            print(f"| {part.replace('_', ' ')}, by {title} | items | flagged | no face judged |\n|---|---|---|---|")
            for key, row in op[part][axis].items():
                print(f"| {key} | {row['items']} | {pct(row['flagged'])} | {pct(row['no_face'])} |")
            print()
    th = op["held_apart_single_face_talking_heads"]
    print(f"Held-apart single-face and talking-head real videos: {th['items']} items, {pct(th['flagged'])} flagged.\n")
    if swap := op.get("halves_swapped"):
        print(
            f"Halves swapped (the threshold set the same way on the held-apart half, {swap['threshold']:.3f}): "
            f"{pct(swap['flagged'])} of the {swap['items']} calibration items flagged.\n"
        )
    print("| calibration set (sets the threshold) | items | flagged |\n|---|---|---|")
    for key, row in op["calibration_real_flagged"].items():
        print(f"| {key} | {row['items']} | {pct(row['flagged'])} |")
    for key, row in op.get("uncalibrated_real_flagged", {}).items():
        print(f"| {key} (never used for a choice) | {row['items']} | {pct(row['flagged'])} |")
    print("\n| fake videos (full pipeline) | videos | caught | no face judged |\n|---|---|---|---|")
    for key, row in op["fake_videos_caught"].items():
        print(f"| {key} | {row['videos']} | {pct(row['caught'])} | {pct(row['no_face'])} |")
    print("\n| validation FAKE crops caught at the threshold | share |\n|---|---|")
    for key, v in op["val_fake_crops_caught"].items():
        print(f"| {key} | {pct(v)} |")
    print(f"| (validation REAL crops flagged) | {pct(op['val_real_crops_flagged'])} |")


if __name__ == "__main__":
    main()
