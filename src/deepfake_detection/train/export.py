"""Export a trained run to ONNX with its calibration and model card; check ONNX Runtime agrees with PyTorch."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from ..calibration import fit_platt, threshold_for_fpr
from ..datasets import load_crops, read_manifests
from ..evaluate import binary_metrics
from ..models import model_cfg
from ..models.card import Calibration, ModelCard
from .config import cache_path
from .loop import load_run
from .trainer import predict_logits

log = logging.getLogger(__name__)

TARGET_FPR = 0.05  # default operating point: at most 5 % of validation REAL faces flagged


def export_run(run: str | Path, out: str | Path, name: str | None = None, tolerance: float = 1e-3) -> dict:
    """Write `out` (.onnx, weights folded in) and `out`.json (card: calibration, threshold, validation metrics)."""
    import onnx
    import torch

    from ..models.serving import FrameScorer

    run, out = Path(run), Path(out).with_suffix(".onnx")
    model, cfg, _ = load_run(run)
    mcfg = model_cfg(cfg.model)
    size = cfg.input_size or mcfg.input_size
    val = [s for s in read_manifests(cfg.data, unlabelled=bool(cfg.teacher)) if s.split == "val" and s.label]
    x_val = load_crops(val, size, cache_path(cfg, val, size, "val"))
    y_val = np.array([s.y for s in val])
    torch.set_num_threads(cfg.threads)
    val_logits = predict_logits(model, x_val)
    calib = fit_platt(val_logits, y_val)
    p_val = Calibration(**calib)(val_logits)
    threshold = threshold_for_fpr(p_val[y_val == 0], TARGET_FPR, floor=0.5)

    out.parent.mkdir(parents=True, exist_ok=True)
    example = torch.from_numpy(np.ascontiguousarray(x_val[:2]))
    batch = torch.export.Dim("batch", min=1, max=1024)
    prog = torch.onnx.export(
        model, (example,), dynamo=True, dynamic_shapes=({0: batch},), input_names=["crops"], output_names=["logits"]
    )
    if prog is None:  # torch returns None only for the legacy exporter (dynamo=False)
        raise RuntimeError("torch.onnx.export returned no ONNX program")
    prog.optimize()
    proto = prog.model_proto
    onnx.save_model(proto, out, save_as_external_data=False)
    onnx.checker.check_model(str(out))

    card = {
        "name": name or cfg.model,
        "architecture": cfg.model,
        "family": mcfg.family,
        "input_size": size,
        "input": "uint8 RGB face crops [N, S, S, 3] cut by faces.crop_face (square, 0.81 x max box side, centred between eyes and mouth)",
        "pretrained": mcfg.pretrained,
        "calibration": calib,
        "threshold": threshold,
        "threshold_rule": f"max(0.5, threshold for {TARGET_FPR:.0%} FPR on validation REAL crops)",
        "validation": binary_metrics(y_val, p_val, threshold),
        "train_config": {k: v for k, v in vars(cfg).items()},
        "onnx_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
    }
    card_path = out.with_suffix(".json")
    ModelCard.from_dict(card).save(card_path)

    scorer = FrameScorer(out, ModelCard.from_dict(card))
    probe = np.ascontiguousarray(x_val[:16])
    diff = float(np.max(np.abs(scorer.logits(probe) - val_logits[:16])))
    log.info("ONNX vs PyTorch max |logit diff| = %.2e", diff)
    if diff > tolerance:
        raise RuntimeError(f"ONNX and PyTorch disagree: max |logit diff| {diff:.3g} > {tolerance}")
    card["onnx_vs_torch_max_abs_diff"] = diff
    ModelCard.from_dict(card).save(card_path)
    return card
