"""The multi-source data layer: per-source manifests, grouping, keep-lists, source weights, held-out sources."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.synthetic import drawn_face, write_video
from deepfake_detection.cli import main
from deepfake_detection.datasets import Sample, read_manifest
from deepfake_detection.evaluate import per_source_auc
from deepfake_detection.train.sources import ffpp_group, prepare_ffpp, talking_head_samples


def _tight_crop(seed: int) -> np.ndarray:
    """An FF++-like crop: the face box cut tight and upscaled to 299 px."""
    img = drawn_face(cx=160 + seed % 7, cy=125)
    return cv2.resize(img[45:215, 80:240], (299, 299), interpolation=cv2.INTER_CUBIC)


@pytest.fixture
def ffpp_snapshot(tmp_path: Path) -> tuple[Path, Path]:
    snap = tmp_path / "snap"
    keep = []
    for method, rois in {
        "youtube": range(0, 160, 2),
        "Face2Face": range(0, 80),
        "NeuralTextures": range(0, 80),
    }.items():
        folder = snap / "image" / "train" / method
        folder.mkdir(parents=True)
        for n in rois:
            cv2.imwrite(str(folder / f"roi_{n}.jpg"), _tight_crop(n)[..., ::-1])
            if n % 10 != 3:  # every tenth file is left off the keep-list
                keep.append(f"image/train/{method}/roi_{n}.jpg")
    keep.append("data/train/youtube/roi_0.jpg")  # 64 px copies are listed too but not used
    (tmp_path / "keep.txt").write_text("\n".join(keep) + "\n")
    return snap, tmp_path / "keep.txt"


def test_ffpp_uses_only_the_keep_list_and_recuts_to_the_serving_size(ffpp_snapshot, tmp_path: Path) -> None:
    snap, keep = ffpp_snapshot
    counts = prepare_ffpp(snap, keep, tmp_path / "out", size=96, val=0.25, test=0.25)
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    listed = {ln for ln in keep.read_text().split() if ln.startswith("image/")}
    assert len(rows) + counts["no_face"] == len(listed)
    assert all(int(r.video.rsplit("_", 1)[1]) % 10 != 3 for r in rows)
    assert counts["no_face"] <= len(listed) // 10
    assert {r.source for r in rows} == {"ffpp"}
    assert Counter(r.method for r in rows).keys() == {"real", "Face2Face", "NeuralTextures"}
    assert all((r.label == "REAL") == (r.method == "real") for r in rows)
    img = cv2.imread(rows[0].path)
    assert img.shape == (96, 96, 3)


def test_ffpp_groups_align_across_method_folders_and_never_straddle_splits(ffpp_snapshot, tmp_path: Path) -> None:
    # Real roi 2N and fake roi N show the same target video: same block, so the same group.
    assert ffpp_group("youtube", 2 * 37) == ffpp_group("Face2Face", 37) == ffpp_group("NeuralTextures", 37)
    assert ffpp_group("Face2Face", 19) != ffpp_group("Face2Face", 20)
    snap, keep = ffpp_snapshot
    prepare_ffpp(snap, keep, tmp_path / "out", size=96, val=0.25, test=0.25)
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    sides: dict[str, set[str]] = {}
    for r in rows:
        sides.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in sides.values())
    assert {r.split for r in rows} == {"train", "val", "test"}


def test_ffpp_without_the_snapshot_says_so(ffpp_snapshot, tmp_path: Path) -> None:
    from deepfake_detection.errors import DeepfakeError

    _, keep = ffpp_snapshot
    with pytest.raises(DeepfakeError, match="none of the keep-listed files"):
        prepare_ffpp(tmp_path / "elsewhere", keep, tmp_path / "out")


def test_talking_heads_group_by_person_across_repositories(tmp_path: Path) -> None:
    rows = [
        ("a.mp4", "FAKE", "wav2lip", "HuyVux-dev/Wav2Lip-Preprocess-Face"),
        ("b.mp4", "FAKE", "sadtalker", "Zz-ww/SadTalker-Video-Lip-Sync"),
        ("c.mp4", "REAL", "", "iperov/DeepFaceLive"),
        ("d.mp4", "FAKE", "hyperlips", "semchan/HyperLips"),
        ("e.mp4", "REAL", "", "someone/else"),
        ("gone.mp4", "REAL", "", "someone/else"),
    ]
    with (tmp_path / "MANIFEST.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "label", "generator", "source_repo"])
        w.writerows(rows)
    for name, *_ in rows[:-1]:
        (tmp_path / name).write_bytes(b"x")
    got = {Path(s.path).name: s for s in talking_head_samples(tmp_path / "MANIFEST.csv", tmp_path)}
    assert "gone.mp4" not in got  # absent files are skipped
    assert got["a.mp4"].group == got["b.mp4"].group  # the same person in two repositories
    assert got["c.mp4"].group == got["d.mp4"].group != got["a.mp4"].group
    assert got["e.mp4"].group not in {got[k + ".mp4"].group for k in "abcd"}
    assert got["b.mp4"].method == "sadtalker" and got["c.mp4"].method == "real"
    assert {s.source for s in got.values()} == {"talking_heads"}


def _rows(source: str, method: str, label: str, n: int) -> list[Sample]:
    return [
        Sample(f"{source}_{method}_{i}.jpg", label, f"g{i}", "train", source=source, method=method) for i in range(n)
    ]


def test_source_weights_set_batch_shares_whatever_the_sizes() -> None:
    from deepfake_detection.train.trainer import sampling_weights

    fakes = (
        _rows("dfdc", "dfdc", "FAKE", 900)
        + _rows("ffpp", "Face2Face", "FAKE", 50)
        + _rows("ffpp", "NeuralTextures", "FAKE", 50)
    )
    p = sampling_weights(fakes, {"dfdc": 1.0, "ffpp": 3.0}, {"NeuralTextures": 2.0})
    share = Counter()
    for s, w in zip(fakes, p):
        share[(s.source, s.method)] += w
    assert share[("dfdc", "dfdc")] == pytest.approx(0.25)
    assert share[("ffpp", "Face2Face")] == pytest.approx(0.25)
    assert share[("ffpp", "NeuralTextures")] == pytest.approx(0.5)
    # Unset weights are 1: equal shares per source, not per row.
    p = sampling_weights(fakes, {}, {})
    assert sum(w for s, w in zip(fakes, p) if s.source == "dfdc") == pytest.approx(0.5)


def test_zero_weights_everywhere_is_an_error() -> None:
    from deepfake_detection.errors import DeepfakeError
    from deepfake_detection.train.trainer import sampling_weights

    with pytest.raises(DeepfakeError, match="weight 0"):
        sampling_weights(_rows("dfdc", "dfdc", "FAKE", 3), {"dfdc": 0}, {})


def test_holdout_by_source_or_method() -> None:
    from deepfake_detection.train.trainer import held_out

    f2f, dfdc = _rows("ffpp", "Face2Face", "FAKE", 1)[0], _rows("dfdc", "dfdc", "FAKE", 1)[0]
    assert held_out(f2f, ["ffpp/Face2Face"]) and not held_out(dfdc, ["ffpp/Face2Face"])
    assert held_out(f2f, ["ffpp"]) and held_out(dfdc, ["dfdc"])


def test_per_source_auc_ranks_each_method_against_its_own_sources_reals() -> None:
    real = _rows("ffpp", "real", "REAL", 4)
    f2f, nt = _rows("ffpp", "Face2Face", "FAKE", 4), _rows("ffpp", "NeuralTextures", "FAKE", 4)
    other = _rows("dfdc", "real", "REAL", 2) + _rows("dfdc", "dfdc", "FAKE", 2)
    logits = np.array([0, 1, 2, 3] + [4, 5, 6, 7] + [-1, -2, -3, 2.5] + [9, 9, -9, -9], float)
    auc = per_source_auc(real + f2f + nt + other, logits)
    assert auc["ffpp/Face2Face"] == 1.0  # every F2F fake above every FF++ real
    assert auc["ffpp/NeuralTextures"] == pytest.approx(3 / 16)  # 2.5 beats three of the four reals
    assert auc["dfdc"] == 0.0  # DFDC fakes are ranked against DFDC reals only
    assert "dfdc/dfdc" not in auc  # a single-method source has no per-method line


def test_extract_faces_manifest_names_source_and_method_and_reads_back(tmp_path: Path) -> None:
    """Video sources enter training through extract-faces: its rows must carry source and method in their columns
    (a header naming them over rows without them once shifted the box into `source`)."""
    folder = tmp_path / "UADFV"
    for label, k in (("REAL", 0), ("REAL", 1), ("FAKE", 0), ("FAKE", 1)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        name = f"{k:04d}" + ("_fake" if label == "FAKE" else "")
        frames = [np.roll(drawn_face(), i + 5 * k, axis=1) for i in range(8)]
        write_video(folder / label / f"{name}.mp4", frames)
    out = tmp_path / "faces"
    assert main(["extract-faces", str(folder), "--out", str(out), "--frames", "4", "--quiet"]) == 0
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 16  # 4 videos x 4 frames, one face each
    assert {r.source for r in rows} == {"uadfv"}
    assert {(r.label, r.method) for r in rows} == {("REAL", "real"), ("FAKE", "fake")}
    with (out / "manifest.csv").open() as f:
        for row in csv.DictReader(f):
            assert len(json.loads(row["box"])) == 4 and float(row["detector_score"]) > 0.5
    by_group = {}
    for r in rows:  # a fake is grouped with the real video it was made from, so never in another split
        by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(splits) == 1 for splits in by_group.values())


def test_recipe_decision_rule_tells_gains_from_noise(monkeypatch):
    """scripts/loso_compare.py: both numbers better wins; a split is decided only by a gap beyond its error."""
    import importlib
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "scripts"))
    decide = importlib.import_module("loso_compare").decide
    for name in ("loso_compare", "loso"):
        sys.modules.pop(name, None)

    def recipe(name, mean, worst, mean_se=0.02, worst_se=0.05):
        return {"name": name, "mean": mean, "worst": worst, "mean_se": mean_se, "worst_se": worst_se}

    assert decide(recipe("a", 0.60, 0.55), recipe("b", 0.62, 0.56)) == "b"  # better on both
    assert decide(recipe("a", 0.60, 0.55), recipe("b", 0.61, 0.54)) == ""  # split, both gaps within the errors
    assert decide(recipe("a", 0.60, 0.55), recipe("b", 0.65, 0.54)) == "b"  # the worst is noise, the mean is not
    assert decide(recipe("a", 0.60, 0.55), recipe("b", 0.65, 0.45)) == "a"  # a real loss on the worst source
    assert decide(recipe("a", 0.60, 0.55), recipe("a2", 0.60, 0.55)) == ""
    # Amended (seeds): gaps inside max(error, seed spread) are ties; what remains decides, the worst first.
    tight = dict(mean_se=0.005, worst_se=0.005)
    assert decide(recipe("a", 0.60, 0.55, **tight), recipe("b", 0.608, 0.56, **tight), 0.009, 0.014) == ""
    assert decide(recipe("a", 0.60, 0.55, **tight), recipe("b", 0.62, 0.54, **tight), 0.009, 0.014) == "b"
    assert decide(recipe("a", 0.60, 0.55, **tight), recipe("b", 0.62, 0.53, **tight), 0.009, 0.014) == "a"
    assert decide(recipe("a", 0.60, 0.55), recipe("b", 0.615, 0.56), 0.009, 0.014) == ""  # within the rule's errors


def test_ensemble_weights_are_one_per_member_and_never_all_zero(monkeypatch):
    """scripts/loso_ensemble.py --weights: one non-negative weight per member, fixed before any row is seen."""
    import importlib
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "scripts"))
    parse = importlib.import_module("loso_ensemble").parse_weights
    for name in ("loso_ensemble", "loso"):
        sys.modules.pop(name, None)
    assert parse(None, 3) == [1.0, 1.0, 1.0]
    assert parse("1,0.5", 2) == [1.0, 0.5]
    for bad in ("1", "1,0.5,2", "1,-1", "0,0", "1,half", "1,nan"):
        assert parse(bad, 2) is None, bad


def test_shipping_rule_needs_a_higher_mean_and_no_loss_beyond_its_error(monkeypatch):
    """scripts/ship_compare.py: a candidate replaces the shipped model only if its mean of six is higher and no
    source drops by more than that source's standard error."""
    import importlib
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "scripts"))
    ship = importlib.import_module("ship_compare")
    sys.modules.pop("ship_compare", None)
    counts = {k: (100, 200) for k in ship.SOURCES}
    shipped = dict.fromkeys(ship.SOURCES, 0.80)
    assert ship.decide(shipped, {**shipped, "dfdc": 0.82}, counts)  # one source better, none worse
    assert not ship.decide(shipped, dict(shipped), counts)  # equal: the shipped model stays
    # A large gain elsewhere does not buy a real loss on one source (0.10 >> its error of ≈ 0.03) ...
    assert not ship.decide(shipped, {**shipped, "dfdc": 0.99, "talking_heads": 0.70}, counts)
    # ... but a drop within the error is noise.
    assert ship.decide(shipped, {**shipped, "dfdc": 0.90, "talking_heads": 0.79}, counts)


def test_materialise_takes_each_listed_file_at_its_commit_and_checks_its_hash(monkeypatch, tmp_path: Path) -> None:
    """scripts/materialise.py: rows come out of a fetched snapshot at their commit (not HEAD), a wrong hash is not
    written, an unfetched repository is named, and a rerun keeps what is already right."""
    import hashlib
    import importlib
    import os
    import subprocess
    import sys

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "scripts"))
    mat = importlib.import_module("materialise")
    sys.modules.pop("materialise", None)
    work = tmp_path / "snapshots" / "someone+clips" / "repo"
    work.mkdir(parents=True)

    def git(*args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }
        return subprocess.run(
            ["git", "-C", str(work), *args], check=True, capture_output=True, text=True, env=env
        ).stdout

    git("init", "-q")
    (work / "a.mp4").write_bytes(b"first bytes")
    git("add", "a.mp4")
    git("commit", "-qm", "one")
    first = git("rev-parse", "HEAD").strip()
    (work / "a.mp4").write_bytes(b"changed later")
    git("commit", "-qam", "two")
    sha = hashlib.sha256(b"first bytes").hexdigest()
    manifest = tmp_path / "MANIFEST.csv"
    manifest.write_text(
        "file,source_repo,source_commit,source_path,sha256\n"
        f"clip.mp4,someone/clips,{first},a.mp4,{sha}\n"
        f"bad.mp4,someone/clips,{first},a.mp4,{'0' * 64}\n"
        f"other.mp4,nobody/elsewhere,{first},b.mp4,{sha}\n"
    )
    out = tmp_path / "out"
    total, ok, unfetched, failed = mat.materialise(manifest, tmp_path / "snapshots", out)
    assert (total, ok) == (3, 1) and (out / "clip.mp4").read_bytes() == b"first bytes"
    assert unfetched == ["nobody/elsewhere"]
    assert len(failed) == 1 and failed[0].startswith("bad.mp4") and not (out / "bad.mp4").exists()
    assert mat.materialise(manifest, tmp_path / "snapshots", out)[1] == 1  # a rerun keeps the good file
