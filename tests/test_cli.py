"""The command line: JSON fields, exit codes, and bad inputs that must yield one clear line, never a traceback."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from helpers import VIDEOS_SAMPLE, needs

from benchmarks.synthetic import gradient_frames, write_audio_only, write_video
from deepfake_detection.cli import main
from deepfake_detection.models.serving import DEFAULT_MODEL, weights_dir


def run_cli(*args):
    proc = subprocess.run(
        [sys.executable, "-m", "deepfake_detection.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.fixture
def bad_inputs(tmp_path):
    full = write_video(tmp_path / "full.mp4", gradient_frames(30))
    (tmp_path / "truncated.mp4").write_bytes(full.read_bytes()[:300])
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "notes.mp4").write_text("definitely not a video\n" * 40)
    write_audio_only(tmp_path / "voice.m4a")
    folder = tmp_path / "folder"
    folder.mkdir()
    return [tmp_path / n for n in ("truncated.mp4", "empty.mp4", "notes.mp4", "voice.m4a", "folder", "missing.mp4")]


def test_bad_inputs_give_error_lines_and_exit_1(bad_inputs):
    proc = run_cli("detect", "--json", "--quiet", *bad_inputs)
    assert proc.returncode == 1
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["path"] for x in lines] == [str(p) for p in bad_inputs]
    for x in lines:
        assert x["verdict"] == "ERROR" and x["probability"] is None
        assert x["error"] and "\n" not in x["error"]


def test_no_face_image_is_a_verdict_and_exit_0(tmp_path):
    path = tmp_path / "sky.png"
    cv2.imwrite(str(path), np.full((200, 300, 3), (235, 206, 135), np.uint8))
    proc = run_cli("detect", "--json", path)
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out["verdict"] == "NO_FACE" and out["faces"] == []


@needs(VIDEOS_SAMPLE)
def test_json_fields_for_a_video(capsys):
    path = VIDEOS_SAMPLE / "fake_abqwwspghj_s0.mp4"
    assert main(["detect", "--json", "--frames", "6", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"path", "verdict", "probability", "faces", "model", "timings", "error", "threshold", "reason"} <= set(out)
    assert out["verdict"] in ("REAL", "FAKE") and out["error"] is None
    face = out["faces"][0]
    assert {"track_id", "probability", "frames"} <= set(face)
    assert {"index", "time", "box", "probability"} <= set(face["frames"][0])
    assert len(face["frames"][0]["box"]) == 4


@needs(VIDEOS_SAMPLE)
def test_mixed_good_and_bad_inputs_keep_going(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    code = main(["detect", "--quiet", "--frames", "4", str(bad), str(VIDEOS_SAMPLE / "real_videoretalking_face1.mp4")])
    text = capsys.readouterr().out
    assert code == 1
    assert "ERROR" in text and ("REAL" in text or "FAKE" in text)


def test_models_json_lists_the_default():
    proc = run_cli("models", "--json")
    rows = json.loads(proc.stdout)
    default = [r for r in rows if r["default"]]
    card = json.loads((weights_dir() / f"{DEFAULT_MODEL}.json").read_text())
    assert len(default) == 1 and default[0]["name"] == DEFAULT_MODEL and default[0]["shipped_weights"]
    assert (default[0]["kind"], default[0]["input_size"]) == (card.get("kind", "frame"), card["input_size"])


def test_unknown_model_is_a_clear_error(tmp_path):
    proc = run_cli("detect", "--model", "no_such_model", tmp_path)
    assert proc.returncode == 1 and "no_such_model" in proc.stderr


def test_unexpected_failure_costs_one_input_not_the_batch(tmp_path, monkeypatch, capsys):
    from deepfake_detection import pipeline

    calls = []

    def flaky(self, path):
        calls.append(path)
        raise ValueError("decoder surprise\nsecond line")

    monkeypatch.setattr(pipeline.Detector, "detect", flaky)
    code = main(["detect", "--json", "--quiet", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 1 and len(calls) == 2
    assert [x["verdict"] for x in lines] == ["ERROR", "ERROR"]
    assert lines[0]["error"] == "internal error: ValueError: decoder surprise"


def test_bad_option_values_are_usage_errors():
    proc = run_cli("detect", "--threshold", "1.5", "x.mp4")
    assert proc.returncode == 2 and "between 0 and 1" in proc.stderr


def test_serve_with_an_unknown_model_fails_before_listening(capsys):
    assert main(["serve", "--model", "nope", "--port", "1"]) == 1
    assert "unknown model 'nope' (shipped: " in capsys.readouterr().err


def test_new_options_reject_bad_paths_with_one_line(tmp_path, capsys):
    clip = write_video(tmp_path / "clip.mp4", gradient_frames(4))
    (tmp_path / "afile").write_text("x")
    assert main(["detect", str(clip), "--explain", str(tmp_path / "afile" / "sub")]) == 1
    assert "cannot write explanations" in capsys.readouterr().err
    (tmp_path / "dyn.json").write_text('{"bad": 1}')
    assert main(["detect", str(clip), "--dynamics", str(tmp_path / "dyn.json")]) == 1
    assert "not a landmark-dynamics model" in capsys.readouterr().err
    for cmd in (["calibrate", "efficientnet_lite0"], ["fuse", "--models", "efficientnet_lite0"]):
        assert main(cmd + ["--data", "x.csv", "--real-videos", str(tmp_path / "none"), "--out", "c.json"]) == 1
        assert "is not a folder" in capsys.readouterr().err


def test_version_and_unknown_model_names_the_shipped_ones(capsys):
    from deepfake_detection import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out
    assert main(["detect", "--model", "foo", "x.mp4"]) == 1
    err = capsys.readouterr().err
    assert "unknown model 'foo'" in err and "efficientnet_lite0" in err


def test_registered_model_without_weights_says_so(capsys):
    assert main(["detect", "--model", "resnet50", "x.mp4"]) == 1
    assert "registered but ships no weights" in capsys.readouterr().err


def test_missing_extra_is_one_line_before_any_work(monkeypatch, tmp_path, capsys):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in ("torch", "sklearn") else real_find_spec(name, *a)
    )
    for argv in (
        ["train", "--config", "nope.yaml"],
        ["export", "run", "--out", "x.onnx"],
        ["evaluate", "--data", str(tmp_path)],
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "needs the train extra" in err and "pip install" in err and len(err.splitlines()) == 1, err


def test_serve_on_a_busy_port_is_one_error_and_no_serving_line(tmp_path, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port), "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err and "serving on" not in err


def test_every_server_setting_is_also_an_option():
    from dataclasses import fields

    from deepfake_detection.cli import build_parser
    from deepfake_detection.server.settings import Settings

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    options = {a.dest for a in serve._actions}
    named = {"num_frames": "frames"}
    missing = [f.name for f in fields(Settings) if named.get(f.name, f.name) not in options]
    assert not missing, f"settings only reachable through the environment: {missing}"


@needs(VIDEOS_SAMPLE)
def test_no_progress_bar_when_stderr_is_not_a_terminal():
    clips = sorted(VIDEOS_SAMPLE.glob("*.mp4"))[:2]
    proc = run_cli("detect", *clips)  # captured stderr is a pipe, not a terminal
    assert proc.returncode == 0 and "detect:" not in proc.stderr and "\r" not in proc.stderr


def test_image_reports_say_image_not_a_time_span(tmp_path, capsys):
    from deepfake_detection.cli.detect import human
    from deepfake_detection.report import FaceResult, FrameResult, MediaInfo, Report

    frame = FrameResult(index=0, time=0.0, box=(0, 0, 10, 10), landmarks=(), detector_score=0.9, probability=0.1)
    face = FaceResult(track_id=0, probability=0.1, frames=[frame], span=None)
    report = Report(
        path="p.jpg",
        verdict="REAL",
        probability=0.1,
        threshold=0.5,
        model="m",
        faces=[face],
        media=MediaInfo(is_image=True),
        reason="r",
    )
    text = human(report)
    assert "image" in text and "0.0-0.0" not in text
