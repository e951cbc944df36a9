"""Contact sheet to check by eye that every source's training crops are framed like the serving crops.

One row per `--crops` folder (training crops as the trainer sees them, searched recursively), then rows of crops
the pipeline cuts from full-frame `--videos` with `faces.crop_face`. Writes a PNG; the pictures are research-only,
so keep the sheet local.

    python scripts/crop_sheet.py --crops data/dfdc/faces_224 --crops data/ffpp_cut/crops/Face2Face \
        --crops data/talking_heads_crops/crops --videos ../shared/data/dfdc-videos-sample --out /tmp/crops.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from deepfake_detection.faces import track_faces
from deepfake_detection.media import read_frames

SIZE = 128


def _row(images: list[np.ndarray], n: int) -> np.ndarray:
    images = images + [np.zeros((SIZE, SIZE, 3), np.uint8)] * (n - len(images))
    return np.concatenate(images[:n], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", action="append", required=True, help="folder of training crops (jpg); repeatable")
    ap.add_argument("--videos", help="folder of full-frame videos cut by the pipeline")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--n", type=int, default=8, help="pictures per row")
    args = ap.parse_args()

    rows = []
    for folder in args.crops:
        paths = sorted(Path(folder).rglob("*.jpg"))
        picked = paths[:: max(1, len(paths) // args.n)][: args.n]
        rows.append(
            _row([cv2.resize(cv2.imread(str(p)), (SIZE, SIZE), interpolation=cv2.INTER_AREA) for p in picked], args.n)
        )
    if args.videos:
        served = [
            track.crops[0][..., ::-1]
            for video in sorted(Path(args.videos).glob("*.mp4"))
            for track in track_faces(read_frames(video, 4))
        ]
        rows += [_row(served[i : i + args.n], args.n) for i in range(0, len(served), args.n)]
    cv2.imwrite(args.out, np.concatenate(rows, axis=0))
    print(f"wrote {args.out}: one row per --crops folder, then pipeline crops of --videos")


if __name__ == "__main__":
    main()
