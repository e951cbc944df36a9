"""Metrics for binary FAKE-vs-REAL scores (scikit-learn), used by training, evaluation and model cards."""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Weighted mean |accuracy - confidence| over equal-width probability bins (of P(FAKE))."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            ece += sel.mean() * abs(y[sel].mean() - p[sel].mean())
    return float(ece)


def equal_error_rate(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, p)
    fnr = 1 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2)


def tpr_at_fpr(y: np.ndarray, p: np.ndarray, target_fpr: float) -> tuple[float, float]:
    """(TPR, threshold) at the lowest threshold whose false-positive rate on REAL stays ≤ target_fpr."""
    from .calibration import threshold_for_fpr

    y, p = np.asarray(y), np.asarray(p, float)
    if not (y == 0).any():
        return float("nan"), 0.5
    thr = threshold_for_fpr(p[y == 0], target_fpr, floor=-np.inf)
    thr = max(thr, 0.0)  # every REAL may be flagged: then everything is
    return float((p[y == 1] >= thr).mean()), thr


def binary_metrics(y, p, threshold: float = 0.5) -> dict[str, float]:
    """AUC, log loss, EER, AP, balanced accuracy and accuracy at `threshold`, ECE, and the always-FAKE baseline."""
    from sklearn.metrics import average_precision_score, balanced_accuracy_score, log_loss, roc_auc_score

    y = np.asarray(y, int)
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    pred = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "n": int(len(y)),
        "n_fake": int(y.sum()),
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "eer": equal_error_rate(y, p) if both else float("nan"),
        "ap": float(average_precision_score(y, p)) if both else float("nan"),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if both else float("nan"),
        "accuracy": float((pred == y).mean()),
        "always_fake_accuracy": float(y.mean()),
        "real_flagged": float(pred[y == 0].mean()) if (y == 0).any() else float("nan"),  # FPR at the threshold
        "fake_caught": float(pred[y == 1].mean()) if (y == 1).any() else float("nan"),  # TPR at the threshold
        "ece": expected_calibration_error(y, p),
        "threshold": float(threshold),
    }


def auc_standard_error(auc: float, n_fake: int, n_real: int) -> float:
    """Standard error of an AUC measured on n_fake positives and n_real negatives (Hanley & McNeil, 1982): how far
    another draw of videos of the same kind would move it. Used to tell a recipe's gain from noise."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = auc * (1 - auc) + (n_fake - 1) * (q1 - auc**2) + (n_real - 1) * (q2 - auc**2)
    return float(np.sqrt(max(var, 0.0) / (n_fake * n_real)))


def per_source_auc(samples, logits: np.ndarray) -> dict[str, float]:
    """Video-level AUC per source and per FAKE method: a video's score is the mean logit of its rows; each method's
    fakes are ranked against the REAL videos of the same source (so a held-out method is measured on its own)."""
    from sklearn.metrics import roc_auc_score

    by_video: dict[tuple, list[float]] = {}
    for s, z in zip(samples, logits):
        by_video.setdefault((s.source, s.method, s.label, s.video or s.path), []).append(float(z))
    rows = [(src, meth, int(lab == "FAKE"), float(np.mean(v))) for (src, meth, lab, _), v in by_video.items()]
    out: dict[str, float] = {}
    for src in sorted({r[0] for r in rows}):
        real = [r[3] for r in rows if r[0] == src and r[2] == 0]
        fakes = {m: [r[3] for r in rows if r[0] == src and r[1] == m and r[2] == 1] for m in {r[1] for r in rows}}
        fakes = {m: v for m, v in fakes.items() if v}
        if not real or not fakes:
            continue
        every = [z for v in fakes.values() for z in v]
        out[src] = float(roc_auc_score([0] * len(real) + [1] * len(every), real + every))
        if len(fakes) > 1:
            for m, v in sorted(fakes.items()):
                out[f"{src}/{m}"] = float(roc_auc_score([0] * len(real) + [1] * len(v), real + v))
    return out


# --- evaluating a model on a manifest of crops or on labelled videos ---------------------------------------


def score_crops(scorer, samples, batch_size: int = 64, progress=None) -> np.ndarray:
    """Calibrated P(FAKE) per crop for manifest rows, read with the same resize as training."""
    from .datasets import load_crops

    probs = []
    chunks = range(0, len(samples), batch_size)
    for i in progress(chunks) if progress else chunks:
        crops = load_crops(samples[i : i + batch_size], scorer.input_size)
        probs.append(scorer.probability(scorer.logits(crops)))
    return np.concatenate(probs) if probs else np.zeros(0)


def video_scores(samples, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Aggregate crop probabilities to one score per video (mean logit), for manifests with several crops a video."""

    def logit(q):
        return np.log(q / (1 - q))

    def expit(z):
        return 1 / (1 + np.exp(-z))

    by_video: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_video.setdefault(s.video or s.path, []).append(i)
    names = sorted(by_video)
    y = np.array([samples[by_video[v][0]].y for v in names])
    p = np.array([expit(np.mean(logit(np.clip(probs[by_video[v]], EPS, 1 - EPS)))) for v in names])
    return y, p, names


def plot_roc_and_reliability(y, p, out_dir, title: str) -> list[str]:
    """ROC curve and reliability diagram PNGs; returns the written paths."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    y, p = np.asarray(y, int), np.asarray(p, float)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fpr, tpr, _ = roc_curve(y, p)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(fpr, tpr, label=f"AUC {binary_metrics(y, p)['auc']:.3f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    ax.set(xlabel="false-positive rate (REAL flagged)", ylabel="true-positive rate (FAKE caught)", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    roc = out_dir / "roc.png"
    fig.savefig(roc, dpi=110)
    plt.close(fig)

    bins = np.linspace(0, 1, 11)
    idx = np.minimum(np.digitize(p, bins) - 1, 9)
    conf = [p[idx == b].mean() if (idx == b).any() else np.nan for b in range(10)]
    acc = [y[idx == b].mean() if (idx == b).any() else np.nan for b in range(10)]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=0.8)
    ax.plot(conf, acc, "o-")
    ax.set(
        xlabel="predicted P(fake)",
        ylabel="observed fraction fake",
        title=f"reliability, ECE {expected_calibration_error(y, p):.3f}",
    )
    fig.tight_layout()
    rel = out_dir / "reliability.png"
    fig.savefig(rel, dpi=110)
    plt.close(fig)
    return [str(roc), str(rel)]


def markdown_row(name: str, m: dict) -> str:
    return (
        f"| {name} | {m['n']} ({m['n_fake']} fake) | {m['auc']:.4f} | {m['log_loss']:.4f} | {m['eer']:.4f} | "
        f"{m['ap']:.4f} | {m['balanced_accuracy']:.4f} | {m['accuracy']:.4f} | {m['always_fake_accuracy']:.4f} | "
        f"{m['ece']:.4f} |"
    )


MARKDOWN_HEADER = (
    "| data | n | AUC | log loss | EER | AP | balanced acc | acc @thr | always-FAKE acc | ECE |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def evaluate_crops(scorer, samples, threshold: float, progress=None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Frame metrics of manifest rows, video metrics when rows share videos, per-source video AUC when rows name
    their source. Returns (result, y, p) for the plots: per video when there are videos, else per crop."""
    probs = score_crops(scorer, samples, progress=progress)
    y = np.array([s.y for s in samples])
    result: dict = {"frame": binary_metrics(y, probs, threshold)}
    yv, pv, _ = video_scores(samples, probs)
    if len(yv) < len(y):
        result["video"] = binary_metrics(yv, pv, threshold)
    if any(s.source for s in samples):
        q = np.clip(probs, EPS, 1 - EPS)  # calibrated probabilities: their logit is a monotone map of the network's
        result["per_source_video_auc"] = per_source_auc(samples, np.log(q / (1 - q)))
    return (result, yv, pv) if "video" in result else (result, y, probs)


def evaluate_videos(
    detector, samples, threshold: float, progress=None
) -> tuple[dict, list[dict], np.ndarray, np.ndarray]:
    """Run the whole pipeline on labelled videos: video metrics over the inputs that got a probability, with the
    counts of NO_FACE and ERROR inputs beside them. Returns (result, one row per input, y, p)."""
    from .pipeline import detect_or_error

    rows = []
    for s in progress(samples) if progress else samples:
        r = detect_or_error(detector, s.path)
        rows.append(
            {
                "path": s.path,
                "label": s.label,
                "verdict": r.verdict,
                "probability": r.probability,
                "faces": len(r.faces),
                "seconds": r.timings.get("total"),
                "error": r.error,
            }
        )
    scored = [r for r in rows if r["probability"] is not None]
    no_face = sum(r["verdict"] == "NO_FACE" for r in rows)
    errors = sum(r["verdict"] == "ERROR" for r in rows)
    if not scored:
        from .errors import DeepfakeError

        raise DeepfakeError(
            f"no video got a probability to measure: {no_face} of {len(rows)} had no face that could be judged, "
            f"{errors} failed (see `deepfake-detect detect` on one of them)"
        )
    y = np.array([int(r["label"] == "FAKE") for r in scored])
    p = np.array([r["probability"] for r in scored])
    video: dict[str, float | None] = dict(binary_metrics(y, p, threshold))
    video.update(
        no_face=no_face,
        errors=errors,
        auc_all_inputs=auc_all_inputs(rows),
        mean_seconds=float(np.mean([r["seconds"] for r in scored])),
    )
    return {"video": video}, rows, y, p


def auc_all_inputs(rows: list[dict]) -> float:
    """Video AUC over every input, those without a probability (NO_FACE, ERROR) counted at P = 0.5: a detector
    that cannot judge a video ranks it nowhere, rather than the metric forgetting it. Equals the plain AUC when
    every input was scored."""
    from sklearn.metrics import roc_auc_score

    y = [int(r["label"] == "FAKE") for r in rows]
    if len(set(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, [0.5 if r["probability"] is None else r["probability"] for r in rows]))


def markdown_table(result: dict) -> str:
    levels = [level for level in ("frame", "video") if level in result]
    return "\n".join(
        [MARKDOWN_HEADER] + [markdown_row(f"{level} ({result['split']})", result[level]) for level in levels]
    )


def write_results(result: dict, y, p, out_dir, title: str, rows: list[dict] | None = None) -> None:
    """metrics.json, metrics.md, roc.png, reliability.png (and videos.jsonl) in `out_dir`."""
    import json
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if rows is not None:
        (out / "videos.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result["plots"] = plot_roc_and_reliability(y, p, out, title)
    (out / "metrics.md").write_text(markdown_table(result) + "\n")
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
