"""Rank recipes by their leave-one-source-out rows, with the rule written in docs/MODELS.md before the rows were known.

    python scripts/loso_compare.py --data data/dfdc/manifest.csv,data/ffpp_cut/manifest.csv,data/talking_heads_crops/crops.csv \
        --recipe 128px=runs/loso,runs/loso_dfdc --recipe 224px=runs/loso_224,runs/loso_224_th,runs/loso_224_rest

Each recipe is a name and the `scripts/loso.py --out` folders whose loso.json rows it owns (a later folder's row for
the same held-out source wins). Only sources measured for every recipe count. Per row it prints the AUC and its
standard error (Hanley & McNeil, from the held-out set's FAKE and REAL video counts), then each recipe's mean and
worst, and the decision:
1. a recipe with the higher mean and a worst at least as high wins;
2. when the two numbers split, the worst decides if the worsts differ by more than the standard error of the lower
   worst row; otherwise the mean decides if the means differ by more than the mean's standard error;
3. otherwise no recipe wins and the first one named (the incumbent) stays.

Seeds (the session 10 amendment): name a recipe once per seed (`--recipe C=runs/loso_C_seed0 --recipe
C=runs/loso_C_seed1`) and its rows are the means over its seeds (a row counts only if every seed has it). With two
seeds or more on both sides, a difference counts only beyond both the rule's error and the seed spread measured in
docs/MODELS.md (sd 0.014 of one FF++ row, 0.009 of a mean of rows): smaller gaps are ties; a recipe wins if what
remains favours it, and when the mean and the worst still split, the worst decides.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from loso import held_out_rows

from deepfake_detection.datasets import read_manifests
from deepfake_detection.evaluate import auc_standard_error

# Run-to-run spread of recipe A's rows over three sampling seeds (docs/MODELS.md, session 10)
ROW_SEED_SD, MEAN_SEED_SD = 0.014, 0.009


def recipe_rows(folders: list[str]) -> dict[str, float]:
    aucs: dict[str, float] = {}
    for folder in folders:
        path = Path(folder) / "loso.json"
        if not path.exists():  # a run still on its first held-out source
            print(f"no rows yet in {path}", file=sys.stderr)
            continue
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if "auc" in row:
                aucs[row["holdout"]] = row["auc"]
    return aucs


def counts(samples, holdout: str) -> tuple[int, int]:
    videos = {(s.method, s.video): s.label for s in held_out_rows(samples, holdout)}
    n_fake = sum(label == "FAKE" for label in videos.values())
    return n_fake, len(videos) - n_fake


def seed_means(runs: list[dict[str, float]]) -> dict[str, float]:
    """One recipe's rows over its seeds: the mean, for the held-out sources every seed has."""
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0] if all(k in r for r in runs)}


def decide(a: dict, b: dict, seed_sd_mean: float = 0.0, seed_sd_row: float = 0.0) -> str:
    """The name of the winner of two recipes' summaries (rule in the module docstring), or '' for no winner.
    Non-zero seed spreads apply the amended rule: gaps within max(error, spread) are ties."""
    if seed_sd_mean or seed_sd_row:
        low = a if a["worst"] < b["worst"] else b
        d_mean, d_worst = a["mean"] - b["mean"], a["worst"] - b["worst"]
        d_mean *= abs(d_mean) > max(a["mean_se"], b["mean_se"], seed_sd_mean)
        d_worst *= abs(d_worst) > max(low["worst_se"], seed_sd_row)
        lead = d_worst if d_worst * d_mean < 0 else (d_worst or d_mean)  # a split: the worst decides
        return "" if lead == 0 else (a if lead > 0 else b)["name"]
    if a["mean"] == b["mean"] and a["worst"] == b["worst"]:
        return ""
    for x, y in ((a, b), (b, a)):
        if x["mean"] >= y["mean"] and x["worst"] >= y["worst"]:
            return x["name"]
    low = a if a["worst"] < b["worst"] else b
    if abs(a["worst"] - b["worst"]) > low["worst_se"]:
        return (b if low is a else a)["name"]
    if abs(a["mean"] - b["mean"]) > max(a["mean_se"], b["mean_se"]):
        return (a if a["mean"] > b["mean"] else b)["name"]
    return ""


def summarise(name: str, aucs: dict[str, float], se: dict[str, float]) -> dict:
    keys = list(aucs)
    worst = min(keys, key=aucs.__getitem__)
    return {
        "name": name,
        "mean": float(np.mean([aucs[k] for k in keys])),
        "mean_se": float(np.sqrt(sum(se[k] ** 2 for k in keys)) / len(keys)),
        "worst": aucs[worst],
        "worst_row": worst,
        "worst_se": se[worst],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the manifests the runs were trained on (for the held-out counts)")
    ap.add_argument(
        "--recipe", action="append", required=True, help="NAME=FOLDER[,FOLDER...]; the first is the incumbent"
    )
    ap.add_argument("--json", action="store_true", help="print the summaries and the decision as JSON")
    args = ap.parse_args()

    seeds: dict[str, list[dict[str, float]]] = {}
    for spec in args.recipe:
        name, _, folders = spec.partition("=")
        seeds.setdefault(name, []).append(recipe_rows(folders.split(",")))
    if len(seeds) != 2:
        ap.error("name exactly two recipes (each once per seed)")
    recipes = {name: seed_means(runs) for name, runs in seeds.items()}
    amended = all(len(runs) >= 2 for runs in seeds.values())
    common = [k for k in next(iter(recipes.values())) if all(k in r for r in recipes.values())]
    if not common:
        ap.error("the recipes share no held-out source")
    samples = read_manifests(args.data)
    se = {name: {} for name in recipes}
    for k in common:
        n_fake, n_real = counts(samples, k)
        for name, aucs in recipes.items():
            se[name][k] = auc_standard_error(aucs[k], n_fake, n_real)
    a, b = (summarise(name, {k: aucs[k] for k in common}, se[name]) for name, aucs in recipes.items())
    winner = decide(a, b, *((MEAN_SEED_SD, ROW_SEED_SD) if amended else (0.0, 0.0)))
    if args.json:
        print(
            json.dumps(
                {
                    "rows": common,
                    "recipes": [a, b],
                    "seeds": [len(r) for r in seeds.values()],
                    "amended": amended,
                    "winner": winner or None,
                }
            )
        )
        return
    names = list(recipes)
    print("| held-out source | " + " | ".join(f"{n} AUC ± SE ({len(seeds[n])} seeds)" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for k in common:
        cells = []
        for n in names:
            per_seed = " / ".join(f"{r[k]:.3f}" for r in seeds[n]) if len(seeds[n]) > 1 else ""
            cells.append(f"{recipes[n][k]:.3f} ± {se[n][k]:.3f}" + (f" ({per_seed})" if per_seed else ""))
        print(f"| {k} | " + " | ".join(cells) + " |")
    for s in (a, b):
        print(
            f"{s['name']}: mean {s['mean']:.3f} ± {s['mean_se']:.3f}, worst {s['worst']:.3f} ± {s['worst_se']:.3f}"
            f" ({s['worst_row']})"
        )
    if amended:
        print(f"seed spread counted: {MEAN_SEED_SD} on the mean, {ROW_SEED_SD} on the worst row")
    print(f"winner: {winner}" if winner else f"no winner: {names[0]} (the incumbent) stays")


if __name__ == "__main__":
    main()
