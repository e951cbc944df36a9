"""Writers for the bad-input corpus. Each takes the destination path; all are cheap (the 10-minute 4K video is
4 s encoded once and its packets remuxed; the 20000x20000 PNG is compressed row by row, never held whole)."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from benchmarks.synthetic import drawn_face, write_audio_only, write_video


def face_frames(n: int = 20, **kw) -> list[np.ndarray]:
    return [drawn_face(cx=150 + i, **kw) for i in range(n)]


def empty(path: Path) -> None:
    path.write_bytes(b"")


def truncated(fraction: float, faststart: bool = False):
    """A face clip cut at `fraction` of its bytes. Without faststart the index (moov) is at the end and is lost."""

    def make(path: Path) -> None:
        whole = path.with_name(path.name + ".whole.mp4")
        _write_face_clip(whole, faststart)
        data = whole.read_bytes()
        whole.unlink()
        path.write_bytes(data[: int(len(data) * fraction)])

    return make


def _write_face_clip(path: Path, faststart: bool) -> None:
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for img in face_frames(30):
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)


def random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(8).integers(0, 256, 64 * 1024, np.uint8).tobytes())


def text(path: Path) -> None:
    path.write_text("Meeting notes\n\n" + "- nothing to see here, this is plain text\n" * 200)


def html(path: Path) -> None:
    path.write_text(
        "<!DOCTYPE html>\n<html><head><title>video</title></head><body>"
        + "<p>not a video</p>" * 300
        + "<script>alert(1)</script></body></html>\n"
    )


def zip_file(path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("clip.mp4", b"\x00" * 10000)
        z.writestr("readme.txt", "a zip archive renamed to .mp4\n")
    path.write_bytes(buf.getvalue())


def audio_only(path: Path) -> None:
    write_audio_only(path, seconds=2.0)


def face_clip(path: Path) -> None:
    write_video(path, face_frames(12))


def single_frame(path: Path) -> None:
    write_video(path, [drawn_face()])


def all_black(path: Path) -> None:
    write_video(path, [np.zeros((240, 320, 3), np.uint8)] * 10)


def dark_face(path: Path) -> None:
    """Night footage: the drawn face at 5 % brightness (YuNet needs the low-light retry)."""
    write_video(path, [(f.astype(np.float32) * 0.05).astype(np.uint8) for f in face_frames(10)])


def rotated_phone(path: Path) -> None:
    """Portrait phone video: frames stored turned a quarter counter-clockwise, upright only once the track's
    rotation metadata is applied (a sideways face is not found, so a verdict proves the rotation was used)."""
    write_video(path, [np.ascontiguousarray(np.rot90(f, 1)) for f in face_frames(10)], rotate=90)


def variable_frame_rate(path: Path) -> None:
    """Frames 20 to 400 ms apart (phones drop the rate in low light); timestamps in milliseconds."""
    gaps = np.random.default_rng(3).integers(20, 400, 24)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = stream.time_base = Fraction(1, 1000)
        pts = 0
        for img, gap in zip(face_frames(len(gaps)), gaps):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = pts, stream.codec_context.time_base
            pts += int(gap)
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(path: Path, side: int = 20000) -> None:
    """A valid side x side greyscale PNG (400 MB of pixels) of ~400 kB, compressed one row at a time."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte 0 + a black row
    parts = [packer.compress(row) for _ in range(side)]
    idat = b"".join(parts) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    )


def png_bomb_9000(path: Path) -> None:
    """9000 x 9000: under FFmpeg's own size check, over the detector's pixel limit."""
    png_bomb(path, 9000)


def long_4k(path: Path, seconds: int = 600, piece_s: int = 4, fps: int = 10) -> None:
    """A 10-minute 3840x2160 H.264 video: `piece_s` seconds encoded once (keyframe every 2 s), its packets remuxed
    again and again with shifted timestamps. ~18 MB; decoding it whole would take minutes."""
    piece = path.with_name(path.name + ".piece.mp4")
    face = drawn_face(w=3840, h=2160, cx=1920, cy=1080, s=6)
    with av.open(str(piece), "w") as out:
        stream = out.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": "ultrafast",
                "crf": "38",
                "g": str(2 * fps),
                "keyint_min": str(2 * fps),
                "sc_threshold": "0",
            },
        )
        stream.width, stream.height, stream.pix_fmt = 3840, 2160, "yuv420p"
        for i in range(piece_s * fps):
            for pkt in stream.encode(av.VideoFrame.from_ndarray(np.roll(face, 4 * i, axis=1), format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    with av.open(str(piece)) as src:
        vin = src.streams.video[0]
        packets = [p for p in src.demux(vin) if p.dts is not None]
        span = max(p.pts for p in packets) - min(p.pts for p in packets) + packets[0].duration
        with av.open(str(path), "w") as out:
            vout = out.add_stream_from_template(vin)
            for k in range(seconds // piece_s):
                for p in packets:
                    q = av.Packet(bytes(p))
                    q.pts, q.dts, q.duration = p.pts + k * span, p.dts + k * span, p.duration
                    q.is_keyframe, q.time_base, q.stream = p.is_keyframe, vin.time_base, vout
                    out.mux(q)
    piece.unlink()


def twelve_faces(path: Path) -> None:
    """Twelve drawn faces tiled 4 x 3 in a 1280x720 frame."""
    frames = []
    for t in range(8):
        tiles = [drawn_face(cx=150 + t + 2 * k, cy=118 + k % 3) for k in range(12)]
        rows = [np.concatenate(tiles[r * 4 : (r + 1) * 4], axis=1) for r in range(3)]
        frames.append(np.concatenate(rows, axis=0))
    write_video(path, frames)


def tiny_face(path: Path) -> None:
    """A face about 30 x 40 px in a 640x480 frame."""
    small = cv2.resize(drawn_face(), None, fx=0.27, fy=0.27, interpolation=cv2.INTER_AREA)  # face ~30 x 40 px
    frames = []
    for i in range(10):
        frame = np.full((480, 640, 3), (90, 110, 130), np.uint8)
        frame[200 : 200 + small.shape[0], 280 + i : 280 + i + small.shape[1]] = small
        frames.append(frame)
    write_video(path, frames)


def exif_rotated(path: Path) -> None:
    """A phone photo stored sideways with EXIF Orientation 6 ('turn 90 degrees clockwise to display')."""
    sideways = np.ascontiguousarray(np.rot90(drawn_face(w=480, h=360, cx=240, cy=180, s=1.1), 1))
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(sideways, cv2.COLOR_RGB2BGR))
    assert ok
    path.write_bytes(with_exif_orientation(jpeg.tobytes(), 6))


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 Exif segment holding only the Orientation tag right after the JPEG's SOI marker."""
    entry = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)  # tag, SHORT, count 1, value, padding
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry + struct.pack("<I", 0)
    body = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + jpeg[2:]


def symlink_loop(path: Path) -> None:
    """Two links pointing at each other, plus a directory link back to their folder (a cycle for folder walks)."""
    other = path.with_name("loop_b.mp4")
    os.symlink(other.name, path)
    os.symlink(path.name, other)
    os.symlink(".", path.parent / "cycle")


# --- content credentials (C2PA): signed here with a throw-away chain (benchmarks/credentials.py) --------------------


def _signed_face_clip(path: Path, **sign_kw) -> Path:
    from benchmarks.credentials import make_chain, sign

    plain = path.with_name(path.name + ".plain.mp4")
    write_video(plain, face_frames(12))
    try:
        return sign(plain, path, make_chain(), **sign_kw)
    finally:
        plain.unlink()


def c2pa_damaged_manifest(path: Path) -> None:
    """A clip whose credentials declare AI generation, with one bit of the manifest flipped: unreadable, so they
    must not decide (the faces do) and the report must say they are invalid."""
    from benchmarks.credentials import flip_manifest_byte

    signed = _signed_face_clip(path.with_name(path.name + ".signed.mp4"))
    flip_manifest_byte(signed, path)
    signed.unlink()


def c2pa_huge_manifest(path: Path) -> None:
    """A clip whose manifest carries a 48 MiB thumbnail: over the reader's memory limit, a warning, never a stall."""
    from benchmarks.credentials import CAPTURE

    _signed_face_clip(path, source_type=CAPTURE, thumbnail_bytes=48 * 2**20)


def c2pa_junk_jumbf(path: Path) -> None:
    """A face JPEG whose APP11 segment holds a JUMBF box labelled as a C2PA manifest store, filled with random bytes
    (what a truncated or forged manifest looks like to the reader)."""
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(drawn_face(), cv2.COLOR_RGB2BGR))
    assert ok
    c2pa_uuid = bytes.fromhex("6332706100110010800000aa00389b71")  # the manifest store's JUMBF type
    description = c2pa_uuid + b"\x03" + b"c2pa\x00"  # toggles: requestable, labelled
    jumd = struct.pack(">I", 8 + len(description)) + b"jumd" + description
    junk = np.random.default_rng(11).integers(0, 256, 6000, np.uint8).tobytes()
    box = struct.pack(">I", 8 + len(jumd) + len(junk)) + b"jumb" + jumd + junk
    body = b"JP" + struct.pack(">HI", 1, 1) + box  # common identifier, box instance, sequence number
    data = jpeg.tobytes()
    path.write_bytes(data[:2] + b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body + data[2:])
