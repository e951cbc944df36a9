"""Landmarks of training crops, for the self-blend masks: YuNet's five points (shipped detector) or dlib's 68-point
shape predictor (the `sbi` extra: `dlib-bin` + `face-recognition-models`, training-time only, never on `detect`).

The 68-point model was trained on iBUG 300-W, whose terms are non-commercial: it shapes training masks only and no
part of it ships with the package.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ..errors import DeepfakeError

SBI_EXTRA = 'pip install -e ".[sbi]"  (dlib-bin and face-recognition-models)'


def _shape_predictor():
    try:
        import dlib
    except ImportError as e:
        raise DeepfakeError(f"68-point landmarks need dlib: {SBI_EXTRA}") from e
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DeepfakeError(f"68-point landmarks need the predictor file: {SBI_EXTRA}")
    # The package's own __init__ imports pkg_resources (gone from current setuptools): locate the file directly.
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise DeepfakeError(f"{path} is missing: reinstall face-recognition-models")
    return dlib, dlib.shape_predictor(str(path))


def landmark_finder(points: int = 5):
    """A function image (RGB uint8) -> [points, 2] landmarks of its most confident face, or None.

    The face box comes from YuNet (the serving detector) in both cases; with `points=68` dlib's shape predictor
    places the 68 points inside that box."""
    if points not in (5, 68):
        raise DeepfakeError(f"landmark points must be 5 or 68, got {points}")
    from ..faces import detect_faces

    dlib, predictor = _shape_predictor() if points == 68 else (None, None)

    def find(img: np.ndarray) -> np.ndarray | None:
        found = detect_faces(img)
        if not found:
            return None
        if dlib is None or predictor is None:  # 5 points: YuNet's own
            return np.array(found[0].landmarks, np.float32)
        x1, y1, x2, y2 = (int(round(v)) for v in found[0].box)
        shape = predictor(np.ascontiguousarray(img), dlib.rectangle(x1, y1, x2, y2))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)

    return find


def crop_landmarks(images: np.ndarray, indices: np.ndarray, cache: Path, points: int = 5) -> np.ndarray:
    """Landmarks of `images[indices]` in crop pixels, [N, points, 2], NaN where no face is found; memoised in `cache`."""
    if cache.is_file():
        return np.load(cache)
    find = landmark_finder(points)
    out = np.full((len(images), points, 2), np.nan, np.float32)
    for i in indices:
        found = find(np.asarray(images[i]))
        if found is not None:
            out[i] = found
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, out)
    return out
