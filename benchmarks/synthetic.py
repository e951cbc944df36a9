"""Synthetic media for tests and benchmarks: a drawn cartoon face that YuNet finds, and H.264/AAC files encoded
from frames with PyAV. Nothing here reads the shared sample data, so it all runs on a bare machine (CI)."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import cv2
import numpy as np


def write_video(
    path: Path, frames: list[np.ndarray], fps: int = 10, audio: bool = False, rotate: int = 0, gop: int | None = None
) -> Path:
    """Encode RGB frames to H.264 MP4 with PyAV; `rotate` (90/180/270) patches the track's display matrix;
    `gop` sets the keyframe interval in frames (x264's default is 250)."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"g": str(gop)} if gop else None)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        astream = out.add_stream("aac", rate=16000) if audio else None
        for img in frames:
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
        if astream is not None:
            _mux_silence(out, astream, seconds=len(frames) / fps)
    if rotate:
        _set_display_rotation(path, rotate)
    return path


def _set_display_rotation(path: Path, degrees: int) -> None:
    """Rewrite the identity matrix in the video track header (tkhd) as a rotation, as phones do."""
    one, w = 0x10000, 0x40000000
    cos, sin = {90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees % 360]
    identity = struct.pack(">9i", one, 0, 0, 0, one, 0, 0, 0, w)
    rotated = struct.pack(">9i", cos * one, sin * one, 0, -sin * one, cos * one, 0, 0, 0, w)
    data = path.read_bytes()
    assert data.count(identity) >= 1, "no identity matrix found to patch"
    tkhd = data.index(b"tkhd")
    at = data.index(identity, tkhd)
    path.write_bytes(data[:at] + rotated + data[at + len(identity) :])


def _mux_silence(out, astream, seconds: float) -> None:
    samples = int(16000 * seconds)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
    frame.sample_rate = 16000
    for pkt in astream.encode(frame):
        out.mux(pkt)
    for pkt in astream.encode():
        out.mux(pkt)


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w") as out:
        astream = out.add_stream("aac", rate=16000)
        _mux_silence(out, astream, seconds)
    return path


def gradient_frames(n: int, w: int = 160, h: int = 120) -> list[np.ndarray]:
    """Frames whose mean brightness encodes their index, so sampled positions can be checked."""
    return [np.full((h, w, 3), 5 + i * (240 // max(n - 1, 1)), np.uint8) for i in range(n)]


def drawn_face(w: int = 320, h: int = 240, cx: int = 160, cy: int = 120, s: float = 0.8) -> np.ndarray:
    """A cartoon face (skin oval, hair, eyes, brows, nose, mouth) that YuNet finds with score ≈ 0.9: lets face
    tests run where no real footage is at hand (CI)."""
    img = np.full((h, w, 3), (90, 110, 130), np.uint8)

    def S(v):
        return int(v * s)

    cv2.ellipse(img, (cx, cy), (S(70), S(92)), 0, 0, 360, (205, 160, 130), -1)
    cv2.ellipse(img, (cx, cy - S(80)), (S(72), S(40)), 0, 180, 360, (60, 40, 30), -1)
    for dx in (-28, 28):
        cv2.ellipse(img, (cx + S(dx), cy - S(18)), (S(14), S(8)), 0, 0, 360, (245, 245, 245), -1)
        cv2.circle(img, (cx + S(dx), cy - S(18)), S(6), (60, 40, 20), -1)
        cv2.circle(img, (cx + S(dx), cy - S(18)), S(3), (10, 10, 10), -1)
        cv2.line(img, (cx + S(dx) - S(16), cy - S(34)), (cx + S(dx) + S(16), cy - S(36)), (70, 45, 30), S(4))
    cv2.line(img, (cx, cy - S(10)), (cx - S(6), cy + S(18)), (170, 120, 95), S(3))
    cv2.ellipse(img, (cx, cy + S(22)), (S(12), S(5)), 0, 0, 360, (175, 125, 100), -1)
    cv2.ellipse(img, (cx, cy + S(45)), (S(24), S(8)), 0, 0, 360, (150, 60, 60), -1)
    return cv2.GaussianBlur(img, (5, 5), 0)
