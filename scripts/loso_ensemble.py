"""Leave-one-source-out rows of an ensemble: the mean logit of recipes whose runs all left the same source out.

    python scripts/loso_ensemble.py --data data/dfdc/manifest.csv,data/ffpp_cut/manifest.csv,data/talking_heads_crops/crops.csv \
        --member runs/loso,runs/loso_dfdc --member runs/loso_224,runs/loso_224_th,runs/loso_224_rest --out runs/loso_ens_128_224

Each `--member` is one recipe: the `scripts/loso.py --out` folders holding its per-source runs (`FOLDER/<source>`,
`/` written `_`). For every held-out source that each member has a finished run for, the members' logits on that
source's held-out rows (each at its own input size) are averaged (`--weights`: a weighted mean, fixed before the
rows are seen) and the video AUC is measured as `loso.py` does.
No training: every member never saw the source it is measured on, so the ensemble did not either. Writes
OUT/loso.json in loso.py's format, for `scripts/loso_compare.py`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from loso import HOLDOUTS, held_out_logits, held_out_rows

from deepfake_detection.datasets import read_manifests
from deepfake_detection.errors import DeepfakeError
from deepfake_detection.evaluate import per_source_auc
from deepfake_detection.train.fusion import mean_weights


def member_run(folders: list[str], holdout: str) -> Path | None:
    """The last of the folders that holds a finished run for this held-out source."""
    name = holdout.replace("/", "_")
    found = [Path(f) / name for f in folders if (Path(f) / name / "best.pt").exists() and _measured(Path(f), holdout)]
    return found[-1] if found else None


def _measured(folder: Path, holdout: str) -> bool:
    path = folder / "loso.json"
    return path.exists() and any(json.loads(line)["holdout"] == holdout for line in path.read_text().splitlines())


def cached_logits(run: Path, rows) -> np.ndarray:
    """`held_out_logits`, kept beside the run (recomputed when its best.pt is newer or the rows changed)."""
    path = run / "held_out_logits.npy"
    if path.exists() and path.stat().st_mtime > (run / "best.pt").stat().st_mtime:
        z = np.load(path)
        if len(z) == len(rows):
            return z
    z = held_out_logits(run, rows)
    np.save(path, z)
    return z


def parse_weights(text: str | None, n_members: int) -> list[float] | None:
    """One weight per member ("1,0.5"); equal weights without text; None when the text does not fit."""
    if text is None:
        return [1.0] * n_members
    try:
        weights = [float(w) for w in text.split(",")]
        mean_weights(weights, n_members)  # the rule `fuse --mean W ...` applies to a served ensemble
    except (ValueError, DeepfakeError):
        return None
    return weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the manifests the runs were trained on")
    ap.add_argument("--member", action="append", required=True, help="FOLDER[,FOLDER...] of one recipe's runs")
    ap.add_argument("--weights", help="W,W,... one weight per --member, in order (default: all equal)")
    ap.add_argument("--out", required=True, help="folder for loso.json")
    args = ap.parse_args()
    if len(args.member) < 2:
        ap.error("an ensemble needs at least two --member recipes")
    weights = parse_weights(args.weights, len(args.member))
    if weights is None:
        ap.error(f"--weights takes {len(args.member)} non-negative numbers, not all zero, got {args.weights!r}")

    samples = read_manifests(args.data)
    members = [m.split(",") for m in args.member]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for holdout in HOLDOUTS:
        runs = [member_run(folders, holdout) for folders in members]
        if any(r is None for r in runs):
            continue
        rows = held_out_rows(samples, holdout)
        z = np.average([cached_logits(run, rows) for run in runs if run is not None], axis=0, weights=weights)
        res = {
            "holdout": holdout,
            "videos": len({(s.method, s.video) for s in rows}),
            "auc": per_source_auc(rows, z)[rows[0].source],
            "members": [str(r) for r in runs],
            "weights": weights,
        }
        results.append(res)
        print(json.dumps(res), flush=True)
        (out / "loso.json").write_text("\n".join(json.dumps(r) for r in results) + "\n")
    if not results:
        ap.error("no held-out source has a finished run in every member")


if __name__ == "__main__":
    main()
