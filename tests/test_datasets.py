"""Dataset loaders, leakage-safe splits and manifests: the groundwork every training and evaluation number rests on."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_detection.datasets import (
    Sample,
    balance_fakes,
    dedupe,
    grouped_split,
    load_crops,
    load_dfdc_crops,
    load_dfdc_videos,
    load_real_fake_folder,
    read_manifest,
    write_manifest,
)
from deepfake_detection.errors import DeepfakeError


def _img(path: Path, bgr: tuple[int, int, int] = (0, 0, 0), size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((size, size, 3), bgr, np.uint8))
    return path


def test_dfdc_crops_labels_groups_and_missing_jpgs(tmp_path: Path) -> None:
    """A FAKE must share its source REAL's group, or the split leaks the actor; rows without a crop are dropped."""
    (tmp_path / "metadata.csv").write_text(
        "videoname,original_width,original_height,label,original\n"
        "aaa.mp4,1920,1080,REAL,\n"
        "bbb.mp4,1920,1080,FAKE,aaa.mp4\n"
        "ccc.mp4,1920,1080,FAKE,aaa.mp4\n"  # no jpg for this one
        "ddd.mp4,1080,1920,REAL,\n"
        "eee.mp4,1080,1920,fake,ddd.mp4\n"
    )
    for vid in ("aaa", "bbb", "ddd", "eee"):
        _img(tmp_path / "faces_224" / f"{vid}.jpg")
    got = {s.video: s for s in load_dfdc_crops(tmp_path)}
    assert sorted(got) == ["aaa", "bbb", "ddd", "eee"]
    assert {v: (s.label, s.group) for v, s in got.items()} == {
        "aaa": ("REAL", "aaa"),
        "bbb": ("FAKE", "aaa"),
        "ddd": ("REAL", "ddd"),
        "eee": ("FAKE", "ddd"),
    }
    assert got["bbb"].path == str(tmp_path / "faces_224" / "bbb.jpg")


def test_dfdc_crops_without_metadata_raises(tmp_path: Path) -> None:
    with pytest.raises(DeepfakeError, match="metadata.csv"):
        load_dfdc_crops(tmp_path)


def test_dfdc_videos_groups_by_original_and_skips_absent(tmp_path: Path) -> None:
    """Videos listed in metadata.json but not on disk are skipped rather than failing later in decoding."""
    meta = {
        "a.mp4": {"label": "FAKE", "split": "train", "original": "b.mp4"},
        "b.mp4": {"label": "REAL", "split": "train", "original": None},
        "c.mp4": {"label": "FAKE", "split": "train", "original": "b.mp4"},  # absent
    }
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"dummy " + name.encode())
    got = load_dfdc_videos(tmp_path)
    assert [(s.video, s.label, s.group) for s in got] == [("a", "FAKE", "b"), ("b", "REAL", "b")]
    assert got[0].path == str(tmp_path / "a.mp4")


def test_real_fake_folder_pairs_by_stem(tmp_path: Path) -> None:
    """UADFV-style `0001.mp4` / `0001_fake.mp4` must share group '0001'; non-media files are ignored."""
    (tmp_path / "REAL").mkdir()
    (tmp_path / "FAKE").mkdir()
    (tmp_path / "REAL" / "0001.mp4").write_bytes(b"real")
    (tmp_path / "FAKE" / "0001_fake.mp4").write_bytes(b"fake")
    (tmp_path / "FAKE" / "notes.txt").write_text("not media")
    got = load_real_fake_folder(tmp_path)
    assert [(s.label, s.group, s.y) for s in got] == [("REAL", "0001", 0), ("FAKE", "0001", 1)]


def test_real_fake_folder_without_fake_raises(tmp_path: Path) -> None:
    (tmp_path / "REAL").mkdir()
    (tmp_path / "REAL" / "0001.mp4").write_bytes(b"real")
    with pytest.raises(DeepfakeError, match="FAKE"):
        load_real_fake_folder(tmp_path)


def test_dedupe_keeps_first_of_identical_bytes(tmp_path: Path) -> None:
    """Byte-identical crops in train and test would inflate scores; the first occurrence wins."""
    for name, data in (("a.jpg", b"same"), ("b.jpg", b"other"), ("c.jpg", b"same")):
        (tmp_path / name).write_bytes(data)
    a, b, c = (Sample(str(tmp_path / n), "REAL", n) for n in ("a.jpg", "b.jpg", "c.jpg"))
    assert dedupe([a, b, c]) == [a, b]
    assert dedupe([c, a, b]) == [c, b]


def _synthetic(n_groups: int = 60) -> list[Sample]:
    """One REAL and 1-3 FAKEs per group: 180 samples in 60 groups."""
    out = []
    for g in range(n_groups):
        out.append(Sample(f"g{g}_real.jpg", "REAL", f"g{g}"))
        out += [Sample(f"g{g}_fake{k}.jpg", "FAKE", f"g{g}") for k in range(g % 3 + 1)]
    return out


def test_grouped_split_never_leaks_a_group() -> None:
    """The whole point of grouping: no source video may be seen on two sides of the split."""
    samples = _synthetic()
    split = grouped_split(samples, val=0.1, test=0.2, seed=0)
    assert [replace(s, split="") for s in split] == samples  # only `split` changes, order kept
    sides: dict[str, set[str]] = {}
    for s in split:
        sides.setdefault(s.group, set()).add(s.split)
    assert all(len(v) == 1 for v in sides.values())
    per_side = Counter(next(iter(v)) for v in sides.values())
    assert per_side == {"train": 42, "val": 6, "test": 12}  # round(60*0.1), round(60*0.2)
    frac = Counter(s.split for s in split)
    assert abs(frac["val"] / len(split) - 0.1) < 0.06
    assert abs(frac["test"] / len(split) - 0.2) < 0.08


def test_grouped_split_is_seeded() -> None:
    samples = _synthetic()
    a = [s.split for s in grouped_split(samples, seed=3)]
    assert a == [s.split for s in grouped_split(samples, seed=3)]
    assert a != [s.split for s in grouped_split(samples, seed=4)]


def test_balance_fakes_caps_fakes_per_group_and_split() -> None:
    """Every REAL kept; FAKEs capped per group by the split's quota (default 1 for splits not named)."""
    samples = [Sample("a_real", "REAL", "a", "train"), Sample("b_real", "REAL", "b", "test")]
    samples += [Sample(f"a_fake{k}", "FAKE", "a", "train") for k in range(5)]
    samples += [Sample(f"b_fake{k}", "FAKE", "b", "test") for k in range(3)]
    samples += [Sample(f"c_fake{k}", "FAKE", "c", "val") for k in range(4)]
    kept = balance_fakes(samples, {"train": 2, "test": 3}, seed=0)
    assert [s.path for s in kept] == sorted(s.path for s in kept)
    assert {s.path for s in kept if s.label == "REAL"} == {"a_real", "b_real"}
    fakes = Counter(s.group for s in kept if s.label == "FAKE")
    assert fakes == {"a": 2, "b": 3, "c": 1}
    assert set(kept) <= set(samples)


def test_manifest_round_trip(tmp_path: Path) -> None:
    samples = [
        Sample(str(tmp_path / "x.jpg"), "FAKE", "g1", "train", "vid1", 2, 1.5),
        Sample(str(tmp_path / "y.jpg"), "REAL", "g1", "val"),
    ]
    path = tmp_path / "out" / "m.csv"
    write_manifest(samples, path)
    assert read_manifest(path) == samples


def test_manifest_relative_paths_resolve_against_its_folder(tmp_path: Path) -> None:
    """A manifest must work from any working directory, so relative paths are relative to the file itself."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "m.csv").write_text(f"path,label,group\ncrops/a.jpg,fake,g1\n{tmp_path / 'abs.jpg'},REAL,g2\n")
    got = read_manifest(sub / "m.csv")
    assert [s.path for s in got] == [str(sub / "crops" / "a.jpg"), str(tmp_path / "abs.jpg")]
    assert [(s.label, s.split, s.track, s.time) for s in got] == [("FAKE", "", 0, 0.0), ("REAL", "", 0, 0.0)]


def test_manifest_bad_label_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("path,label,group\na.jpg,REAL,g\nb.jpg,FAKE,g\nc.jpg,MAYBE,g\n")
    with pytest.raises(DeepfakeError, match=r"m\.csv:4: .*'MAYBE'"):
        read_manifest(path)


def test_manifest_missing_column_raises(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("path,label\na.jpg,REAL\n")
    with pytest.raises(DeepfakeError, match="group"):
        read_manifest(path)


def test_load_crops_is_rgb_resized_and_cached(tmp_path: Path) -> None:
    """Channel order matters (cv2 reads BGR, models train on RGB); the cache must be written and then reused."""
    blue = _img(tmp_path / "blue.png", (255, 0, 0))
    red = _img(tmp_path / "red.png", (0, 0, 255), size=20)
    samples = [Sample(str(blue), "REAL", "g"), Sample(str(red), "FAKE", "g")]
    cache = tmp_path / "cache" / "crops.npy"
    arr = load_crops(samples, 8, cache)
    assert arr.shape == (2, 8, 8, 3) and arr.dtype == np.uint8
    assert (arr[0] == [0, 0, 255]).all()  # blue in RGB
    assert (arr[1] == [255, 0, 0]).all()  # red in RGB
    assert cache.is_file() and np.array_equal(np.load(cache), arr)
    blue.unlink()
    red.unlink()
    assert np.array_equal(load_crops(samples, 8, cache), arr)  # served from the cache, images no longer needed
    with pytest.raises(DeepfakeError, match="cannot read"):
        load_crops(samples, 4, cache)  # a cache of another shape is stale and rebuilt from the (gone) images


def test_prepare_dfdc_from_a_relative_snapshot_writes_rows_that_resolve(tmp_path, monkeypatch):
    """A snapshot path given relative to the working directory must still give readable rows: manifests resolve
    their rows from their own folder (this once wrote rows that pointed nowhere)."""
    import cv2
    import numpy as np

    from deepfake_detection.datasets import read_manifest
    from deepfake_detection.train.prepare import prepare_dfdc

    snap = tmp_path / "snap"
    (snap / "faces_224").mkdir(parents=True)
    lines = ["videoname,original_width,original_height,label,original"]
    for i in range(20):
        real = f"r{i}"
        lines += [f"{real}.mp4,100,100,REAL,", f"f{i}.mp4,100,100,FAKE,{real}.mp4"]
        for j, name in enumerate((real, f"f{i}")):
            cv2.imwrite(str(snap / "faces_224" / f"{name}.jpg"), np.full((8, 8, 3), 10 * i + j, np.uint8))
    (snap / "metadata.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    prepare_dfdc("snap", "out/manifest.csv")
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    assert len(rows) == 40 and all(Path(r.path).is_file() for r in rows)
