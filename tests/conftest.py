"""Fixtures: synthetic media made on the fly. Shared helpers live in tests/helpers.py and benchmarks/synthetic.py."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.synthetic import drawn_face, write_video


@pytest.fixture
def tiny_crops(tmp_path: Path) -> Path:
    """A manifest of 24 synthetic 64 px 'face' crops, REAL smooth and FAKE with a blocky seam, in 12 groups."""
    rng = np.random.default_rng(0)
    rows = ["path,label,group,split"]
    for g in range(12):
        split = "train" if g < 8 else "val"
        for label in ("REAL", "FAKE"):
            img = cv2.GaussianBlur(rng.integers(0, 255, (64, 64, 3), np.uint8), (0, 0), 3)
            if label == "FAKE":
                img[16:48, 16:48] = 255 - img[16:48, 16:48]
            name = f"{label.lower()}_{g}.png"
            cv2.imwrite(str(tmp_path / name), img)
            rows.append(f"{name},{label},g{g},{split}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "manifest.csv"


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory) -> Path:
    """A 2 s, 10 fps clip of a drawn face drifting sideways."""
    path = tmp_path_factory.mktemp("media") / "face.mp4"
    return write_video(path, [drawn_face(cx=150 + i) for i in range(20)])
