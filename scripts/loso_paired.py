"""Paired bootstrap of two recipes' leave-one-source-out rows: how sure is a gain, the same videos scored by both?

    python scripts/loso_paired.py --data data/dfdc/manifest.csv,data/ffpp_cut/manifest.csv,data/talking_heads_crops/crops.csv \
        --a runs/loso,runs/loso_dfdc --b runs/loso,runs/loso_dfdc --b runs/loso_224,runs/loso_224_th,runs/loso_224_rest

`--a` and `--b` each name one or more recipes (`scripts/loso.py --out` folders, as in loso_ensemble.py); several
make a mean-logit ensemble. For each held-out source both sides score the same videos; videos are resampled with
replacement (FAKE and REAL apart) and AUC(b) - AUC(a) is measured on each resample, per row and for the mean of the
rows. The standard errors of loso_compare.py treat the two sides as independent draws; scored on the same videos
they are not, so this is the sharper test. It says nothing of the spread between training runs (one seed each).
"""

from __future__ import annotations

import argparse

import numpy as np
from loso import HOLDOUTS, held_out_rows
from loso_ensemble import cached_logits, member_run
from sklearn.metrics import roc_auc_score

from deepfake_detection.datasets import read_manifests


def video_scores(rows, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(label, mean logit) per held-out video, as `per_source_auc` scores them."""
    videos: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(rows):
        videos.setdefault((s.method, s.video), []).append(i)
    y = np.array([rows[idx[0]].y for idx in videos.values()])
    return y, np.array([z[idx].mean() for idx in videos.values()])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the manifests the runs were trained on")
    ap.add_argument("--a", action="append", required=True, help="FOLDER[,FOLDER...] of one recipe of side a")
    ap.add_argument("--b", action="append", required=True, help="FOLDER[,FOLDER...] of one recipe of side b")
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args()

    samples = read_manifests(args.data)
    rng = np.random.default_rng(0)
    gains = []
    for holdout in HOLDOUTS:
        runs = {side: [member_run(m.split(","), holdout) for m in getattr(args, side)] for side in ("a", "b")}
        if any(r is None for side in runs.values() for r in side):
            continue
        rows = held_out_rows(samples, holdout)
        z = {side: np.mean([cached_logits(r, rows) for r in rs if r is not None], axis=0) for side, rs in runs.items()}
        y, va = video_scores(rows, z["a"])
        _, vb = video_scores(rows, z["b"])
        fake, real = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
        gain = []
        for _ in range(args.resamples):
            idx = np.concatenate([rng.choice(fake, len(fake)), rng.choice(real, len(real))])
            gain.append(roc_auc_score(y[idx], vb[idx]) - roc_auc_score(y[idx], va[idx]))
        gains.append(np.array(gain))
        lo, hi = np.percentile(gain, [2.5, 97.5])
        print(
            f"{holdout:22s} a {roc_auc_score(y, va):.3f}  b {roc_auc_score(y, vb):.3f}  "
            f"b - a {np.mean(gain):+.3f}  95 % [{lo:+.3f}, {hi:+.3f}]"
        )
    if not gains:
        ap.error("no held-out source has a finished run on both sides")
    mean = np.mean(gains, axis=0)
    lo, hi = np.percentile(mean, [2.5, 97.5])
    print(
        f"mean of {len(gains)} rows: b - a {mean.mean():+.3f}  95 % [{lo:+.3f}, {hi:+.3f}]  "
        f"share of resamples with b <= a: {np.mean(mean <= 0):.3f}"
    )


if __name__ == "__main__":
    main()
