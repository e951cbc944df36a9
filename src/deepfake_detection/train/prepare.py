"""Build a leakage-free training manifest from a fetched DFDC face-crop snapshot."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from ..datasets import balance_fakes, dedupe, grouped_split, load_dfdc_crops, write_manifest


def prepare_dfdc(snapshot: str | Path, out: str | Path, train_fakes_per_group: int = 2, seed: int = 0) -> dict:
    """Dedupe, split 80/10/10 by source video, keep every REAL and a few FAKEs per source.

    Validation and test keep one FAKE per source so their REAL:FAKE ratio stays near 1:1 and log loss is
    comparable; training keeps more fakes for variety and balances batches instead.
    """
    samples = grouped_split(dedupe(load_dfdc_crops(snapshot)), val=0.1, test=0.1, seed=seed)
    kept = balance_fakes(samples, {"train": train_fakes_per_group, "val": 1, "test": 1}, seed=seed)
    # Manifest rows are read relative to the manifest's folder: a snapshot given relative to the working directory
    # must be written as an absolute path, or every row points nowhere.
    write_manifest([replace(s, path=str(Path(s.path).resolve())) for s in kept], out)
    return dict(Counter((s.split, s.label) for s in kept))
