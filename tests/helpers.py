"""Helpers the tests share; conftest.py keeps only fixtures. The synthetic media the tests make (drawn face, encoded
clips) lives in benchmarks/synthetic.py, because the benchmarks make the same files."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VIDEOS_SAMPLE = SHARED_DATA / "dfdc-videos-sample"
FACES_SAMPLE = SHARED_DATA / "dfdc-faces-sample"


def needs(path: Path):
    """Skip the test when a folder of the shared sample data is absent."""
    return pytest.mark.skipif(not path.is_dir(), reason=f"{path} absent (shared sample data not available)")
