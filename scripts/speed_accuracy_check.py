"""Does a faster pipeline setting change the scores? Runs labelled videos through the baseline settings (full-frame
face detection on every sampled frame) and the shipped fast ones, and prints AUC, verdicts, and the per-video
probability change for each. The guard for issues 9 and 18: speed-ups are kept only when video AUC moves < 0.005.

    python scripts/speed_accuracy_check.py VIDEOS_DIR [VIDEOS_DIR ...] [--model M] [--out results.jsonl]
    python scripts/speed_accuracy_check.py VIDEOS_DIR ... --model FAST_CARD --against M   # two models, same faces

Each VIDEOS_DIR holds real/ and fake/ (or REAL/ and FAKE/) subfolders, or a labels.csv (file,label); a folder with
only real videos counts as REAL (then AUC needs fakes from another folder).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from deepfake_detection.datasets import VIDEO_SUFFIXES, load_real_fake_folder
from deepfake_detection.errors import DeepfakeError
from deepfake_detection.faces import FaceConfig
from deepfake_detection.models.serving import load_scorer
from deepfake_detection.pipeline import Detector


def labelled(folders: list[str]) -> list[tuple[Path, int]]:
    """(video, 1 if FAKE) from REAL/ + FAKE/ folders, a folder with a `labels.csv` (`file,label`, as the shared
    sample clips have), or a folder of real videos."""
    items = []
    for folder in folders:
        table = Path(folder) / "labels.csv"
        if table.is_file():
            with table.open(newline="") as f:
                items += [(Path(folder) / r["file"], int(r["label"].upper() == "FAKE")) for r in csv.DictReader(f)]
            continue
        try:
            items += [(Path(s.path), s.y) for s in load_real_fake_folder(folder)]
        except DeepfakeError:  # no REAL/ + FAKE/ sub-folders: a folder of real videos
            items += [(p, 0) for p in sorted(Path(folder).rglob("*")) if p.suffix.lower() in VIDEO_SUFFIXES]
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--model", default=None, help="the setting under test (default: the shipped default model)")
    ap.add_argument(
        "--against",
        help="baseline model (name, .onnx or card) run with the shipped face settings, instead of the baseline "
        "of detecting faces on every sampled frame with --model",
    )
    ap.add_argument("--out", help="per-video probabilities as JSON lines")
    ap.add_argument("--limit", type=int, help="at most this many videos per label (a spread of the sorted list)")
    args = ap.parse_args()
    scorer = load_scorer(args.model)
    if args.against:
        variants = {f"baseline ({args.against})": Detector(load_scorer(args.against)), "candidate": Detector(scorer)}
    else:
        variants = {
            "baseline (detect every frame)": Detector(scorer, face_cfg=replace(FaceConfig(), detect_every=1)),
            "shipped": Detector(scorer),
        }
    items = labelled(args.folders)
    if args.limit:
        items = [
            x
            for label in (0, 1)
            for grp in [[i for i in items if i[1] == label]]
            for x in (grp[:: max(1, len(grp) // args.limit)][: args.limit])
        ]
    rows = []
    for path, label in tqdm(items, unit="video"):
        row = {"path": str(path), "label": label}
        for name, det in variants.items():
            t = time.perf_counter()
            r = det.detect(path)
            row[name] = r.probability
            row[name + " verdict"] = r.verdict
            row[name + " s"] = time.perf_counter() - t
        rows.append(row)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))
    y = np.array([r["label"] for r in rows])
    first = next(iter(variants))
    base = np.array([np.nan if r[first] is None else r[first] for r in rows], dtype=float)
    for name in variants:
        p = np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=float)
        ok = ~np.isnan(p)
        auc = roc_auc_score(y[ok], p[ok]) if len(set(y[ok])) == 2 else float("nan")
        both = ok & ~np.isnan(base)
        delta = np.abs(p[both] - base[both])
        secs = np.mean([r[name + " s"] for r in rows])
        flagged = [r[name + " verdict"] == "FAKE" for r in rows]
        real_flagged = sum(f for f, r in zip(flagged, rows) if r["label"] == 0)
        fake_caught = sum(f for f, r in zip(flagged, rows) if r["label"] == 1)
        changed = sum(r[name + " verdict"] != r[first + " verdict"] for r in rows)
        print(
            f"{name:32s} videos {ok.sum():4d}  AUC {auc:.4f}  |dP| mean {delta.mean() if both.any() else 0:.4f}"
            f" max {delta.max() if both.any() else 0:.4f}  no-face {int((~ok).sum())}  real flagged "
            f"{real_flagged}/{int((y == 0).sum())}  fakes caught {fake_caught}/{int((y == 1).sum())}  verdicts "
            f"changed {changed}  {secs:.2f} s/video"
        )


if __name__ == "__main__":
    main()
