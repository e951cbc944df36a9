"""Should a candidate replace the shipped model? The rule of docs/MODELS.md ("The shipping rule"), applied to two
`deepfake-detect evaluate --out` folders of the same split of the same manifests:

    python scripts/ship_compare.py --data DATA --split val --shipped REPORTS/shipped/val --candidate REPORTS/pair/val

The candidate passes when its mean video AUC over the six sources (DFDC, the four FF++ methods, talking heads) is
higher and no source is lower by more than that source's standard error (Hanley & McNeil, from the split's video
counts). Prints the table and the verdict; exits 0 either way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from deepfake_detection.datasets import read_manifests
from deepfake_detection.evaluate import auc_standard_error

SOURCES = [
    "dfdc",
    "ffpp/Deepfakes",
    "ffpp/Face2Face",
    "ffpp/FaceSwap",
    "ffpp/NeuralTextures",
    "talking_heads",
]


def video_counts(data: str, split: str) -> dict[str, tuple[int, int]]:
    """(FAKE videos, REAL videos) per row of SOURCES: an FF++ method's fakes against all FF++ real videos."""
    videos = {(s.source, s.method, s.video or s.path, s.label) for s in read_manifests(data) if s.split == split}
    counts = {}
    for key in SOURCES:
        source, _, method = key.partition("/")
        fake = sum(1 for v in videos if v[0] == source and v[3] == "FAKE" and (not method or v[1] == method))
        real = sum(1 for v in videos if v[0] == source and v[3] == "REAL")
        counts[key] = (fake, real)
    return counts


def decide(shipped: dict[str, float], candidate: dict[str, float], counts: dict[str, tuple[int, int]]) -> bool:
    mean_gain = sum(candidate[k] - shipped[k] for k in SOURCES) / len(SOURCES)
    worse = [k for k in SOURCES if shipped[k] - candidate[k] > auc_standard_error(shipped[k], *counts[k])]
    return mean_gain > 0 and not worse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="the manifests both folders were evaluated on (comma-separated)")
    ap.add_argument("--split", required=True)
    ap.add_argument("--shipped", type=Path, required=True, help="evaluate --out folder of the shipped model")
    ap.add_argument("--candidate", type=Path, required=True, help="evaluate --out folder of the candidate")
    args = ap.parse_args()
    for d in (args.shipped, args.candidate):
        if not (d / "metrics.json").is_file():
            raise SystemExit(f"{d}: no metrics.json (write it with `deepfake-detect evaluate ... --out {d}`)")
    a, b = (
        json.loads((d / "metrics.json").read_text())["per_source_video_auc"] for d in (args.shipped, args.candidate)
    )
    if missing := [k for k in SOURCES if k not in a or k not in b]:
        raise SystemExit(f"no video AUC for {', '.join(missing)}: evaluate both on every source's manifest")
    counts = video_counts(args.data, args.split)
    print(f"| source ({args.split}) | videos fake / real | shipped | candidate | difference | standard error |")
    print("|---|---|---|---|---|---|")
    for k in SOURCES:
        se = auc_standard_error(a[k], *counts[k])
        print(f"| {k} | {counts[k][0]} / {counts[k][1]} | {a[k]:.3f} | {b[k]:.3f} | {b[k] - a[k]:+.3f} | {se:.3f} |")
    ma, mb = (sum(x[k] for k in SOURCES) / len(SOURCES) for x in (a, b))
    print(f"| **mean of six** | | {ma:.3f} | {mb:.3f} | {mb - ma:+.3f} | |")
    print("candidate passes the rule" if decide(a, b, counts) else "candidate does NOT pass the rule")


if __name__ == "__main__":
    main()
