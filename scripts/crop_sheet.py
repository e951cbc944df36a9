"""Contact sheet to check by eye that serving crops are framed like the training crops.

Top row: DFDC training crops as the trainer sees them. Bottom rows: crops the pipeline cuts from full-frame
videos with `faces.crop_face`. Writes a PNG; the DFDC pictures are research-only, so keep the sheet local.

    python scripts/crop_sheet.py --crops ../shared/data/dfdc-faces-sample --videos ../shared/data/dfdc-videos-sample --out /tmp/crops.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from deepfake_detection.faces import track_faces
from deepfake_detection.media import read_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crops", required=True, help="folder of training crops (jpg)")
    ap.add_argument("--videos", required=True, help="folder of full-frame videos")
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--n", type=int, default=8, help="pictures per row")
    args = ap.parse_args()

    size = 128
    train = [cv2.resize(cv2.imread(str(p)), (size, size), interpolation=cv2.INTER_AREA)
             for p in sorted(Path(args.crops).glob("*.jpg"))[: args.n]]
    rows = [np.concatenate(train, axis=1)]
    served = []
    for video in sorted(Path(args.videos).glob("*.mp4")):
        for track in track_faces(read_frames(video, 4)):
            served.append(track.crops[0][..., ::-1])
    for i in range(0, len(served), args.n):
        chunk = served[i : i + args.n]
        chunk += [np.zeros_like(train[0])] * (args.n - len(chunk))
        rows.append(np.concatenate(chunk, axis=1))
    sheet = np.concatenate(rows, axis=0)
    cv2.imwrite(args.out, sheet)
    print(f"wrote {args.out}: row 1 training crops, rows 2+ pipeline crops")


if __name__ == "__main__":
    main()
