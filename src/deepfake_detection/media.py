"""Media stage: decode a video or image and sample frames evenly (PyAV / FFmpeg).

One public entry: `read_frames(path, num_frames) -> Frames`. Decoding is most of the cost, so it does as little
as it can. Short clips: one demux-only pass (milliseconds) finds every frame's timestamp, then one forward decode
where the decoder skips non-reference frames that were not sampled (nothing else needs them), and only sampled
frames are converted to RGB. Seeking per frame would be 10x slower on H.264 with keyframes seconds apart. Long
videos: one seek per sample that decodes only the keyframe there, so cost stays flat in length. Frames larger
than `MediaLimits.work_max_side` are downscaled while converting, which bounds memory for 4K and above.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .errors import MediaError

if TYPE_CHECKING:
    import numpy as np

# PyAV and numpy are imported where frames are decoded, not here: the command line reads DEFAULT_NUM_FRAMES from
# this module for every command (`--help`, `--version`, `models`), which should not pay 0.15 s for them.

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})

DEFAULT_NUM_FRAMES = 32  # frames sampled evenly per video: every command, the server and scan start here


@dataclass(frozen=True)
class MediaLimits:
    """Guard rails against oversized or hostile inputs."""

    max_file_bytes: int = 2 * 1024**3
    max_duration_s: float = 3 * 3600.0
    max_pixels: int = 8192 * 8192  # per frame, checked from the header before any pixel is decoded
    seek_above_s: float = 30.0  # longer videos: one keyframe per sample by seeking, not a forward decode
    work_max_side: int = 1920  # frames are kept at most this long (faces stay > 4x the 128 px crops at 1080p)
    decoder_threads: int = 0  # FFmpeg decoding threads; 0: its own choice (one per core). Workers sharing cores: 1


@dataclass(frozen=True)
class Frames:
    """Sampled frames of one input, upright (rotation metadata applied), RGB uint8 [H, W, 3]."""

    path: str
    images: list[np.ndarray]
    indices: list[int]  # frame number in the stream (0 for an image)
    times: list[float]  # seconds from the start
    width: int  # upright size of the source; `images` may be smaller (see `scale`)
    height: int
    fps: float
    duration: float
    rotation: int = 0  # degrees applied to make frames upright
    scale: float = 1.0  # stored image pixels per source pixel (< 1 when a big frame was downscaled)
    is_image: bool = False
    warnings: list[str] = field(default_factory=list)


def sniff_container(head: bytes) -> str | None:
    """The media container named by a file's first bytes (at least 16), or None when it is none we decode.

    For uploads: trust the content, never the client's name or content type."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"  # also mov, m4v, 3gp
    if len(head) >= 12 and head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # also webm
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"WEBP"):
        return "avi" if head[8:12] == b"AVI " else "webp"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    if head.startswith(b"FLV"):
        return "flv"
    if head.startswith(b"\x00\x00\x01\xba") or head.startswith(b"\x00\x00\x01\xb3"):
        return "mpeg"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpegts"
    if head.startswith(b"OggS"):
        return "ogg"
    return None


def read_frames(
    path: str | os.PathLike,
    num_frames: int = DEFAULT_NUM_FRAMES,
    limits: MediaLimits = MediaLimits(),
    on_frame: Callable[[np.ndarray], object] | None = None,
) -> Frames:
    """Decode `path` and return up to `num_frames` frames spread evenly over its duration.

    `on_frame` is called with each upright sampled frame as soon as it is decoded, in order, when the video is
    decoded forward (short videos); the faces stage uses it to work while decoding goes on.

    Raises MediaError with a one-line reason for a missing, empty, corrupt, audio-only or oversized input.
    """
    import av

    if num_frames < 1:
        raise MediaError("num_frames must be at least 1")
    p = Path(path)
    if not p.exists():
        raise MediaError(f"no such file: {p}")
    if not p.is_file():
        raise MediaError(f"not a regular file: {p}")
    size = p.stat().st_size
    if size == 0:
        raise MediaError(f"empty file: {p}")
    if size > limits.max_file_bytes:
        raise MediaError(f"file is {size / 2**20:.0f} MiB, over the {limits.max_file_bytes / 2**20:.0f} MiB limit")
    try:
        with av.open(str(p), metadata_errors="ignore") as container:
            if not container.streams.video:
                kinds = sorted({str(s.type) for s in container.streams}) or ["no"]
                raise MediaError(f"no video or image stream in {p.name} (found {', '.join(kinds)} streams)")
            stream = container.streams.video[0]
            is_image = p.suffix.lower() in IMAGE_SUFFIXES or container.format.name.endswith("_pipe")
            return _sample(container, stream, p, num_frames, limits, is_image, on_frame)
    except av.error.FFmpegError as e:
        raise MediaError(f"cannot decode {p.name}: {_reason(e)}") from e


def _reason(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.split(":")[-1].strip() if msg else type(e).__name__


def _sample(container, stream, p: Path, num_frames: int, limits: MediaLimits, is_image: bool, on_frame=None) -> Frames:
    import av

    if stream.codec_context is None:  # FFmpeg found the stream but cannot open its decoder (damaged header)
        raise MediaError(f"no decodable video stream in {p.name}")
    w, h = stream.codec_context.width, stream.codec_context.height
    if w * h > limits.max_pixels:
        raise MediaError(f"frame size {w}x{h} is over the {limits.max_pixels:,}-pixel limit")
    fps = float(stream.average_rate or stream.guessed_rate or 0.0)
    duration = _duration(container, stream)
    if duration > limits.max_duration_s:
        raise MediaError(f"video is {duration:.0f} s long, over the {limits.max_duration_s:.0f} s limit")
    _threads(stream, limits)
    warnings: list[str] = []
    scale = min(1.0, limits.work_max_side / max(w, h, 1))
    size = (max(2, round(w * scale)), max(2, round(h * scale))) if scale < 1 else None
    if is_image:
        picked, total = _decode_first(container, stream, size), 1
    elif duration > limits.seek_above_s and fps:
        try:
            picked, total = _seek_sample(container, stream, duration, num_frames, size), num_frames
        except av.error.FFmpegError as e:  # an index that cannot be seeked: decode forward instead
            log.warning("seeking in %s failed (%s): decoding forward", p.name, _reason(e))
            picked = []
        if not picked:
            warnings.append("the video could not be sampled by seeking; it was decoded from the start")
            with av.open(str(p), metadata_errors="ignore") as fresh:  # a clean state whatever seeking left
                forward = fresh.streams.video[0]
                _threads(forward, limits)
                picked, total = _decode_forward(fresh, forward, p, duration, fps, num_frames, size, on_frame)
    else:
        picked, total = _decode_forward(container, stream, p, duration, fps, num_frames, size, on_frame)
    if not picked:
        raise MediaError(f"no decodable frame in {p.name}")
    if not is_image and len(picked) < min(num_frames, max(total, 1)) and not warnings:
        warnings.append(f"decoded {len(picked)} of {min(num_frames, total)} requested frames")
    rotation = picked[0][2]
    images = [_upright(img, rot) for _, img, rot, _ in picked]
    if is_image:  # phones store photos sideways or mirrored and rely on the EXIF orientation tag
        with open(p, "rb") as f:
            orientation = exif_orientation(f.read(1 << 16))
        if orientation != 1:  # FFmpeg turns its rotation part into frame.rotation but drops its mirroring
            images = [_exif_upright(img, orientation) for _, img, _, _ in picked]
    hh, ww = images[0].shape[:2]
    return Frames(
        path=str(p),
        images=images,
        indices=[i for i, _, _, _ in picked],
        times=[t for _, _, _, t in picked],
        width=round(ww / scale),
        height=round(hh / scale),
        fps=0.0 if is_image else fps,
        duration=0.0 if is_image else duration,
        rotation=rotation,
        scale=scale,
        is_image=is_image,
        warnings=warnings,
    )


def _threads(stream, limits: MediaLimits) -> None:
    stream.thread_type = "AUTO"
    if limits.decoder_threads:
        stream.thread_count = limits.decoder_threads


def _duration(container, stream) -> float:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return 0.0


def _targets(total: int, n: int) -> list[int]:
    import numpy as np

    if total <= 0:
        return list(range(n))  # unknown length: the first n frames
    n = min(n, total)
    return sorted({int(round(x)) for x in np.linspace(0, total - 1, n)})


def _rgb(frame, size: tuple[int, int] | None) -> tuple[np.ndarray, int]:
    """RGB pixels (downscaled in the same swscale pass when `size` is given) and the display rotation."""
    if size is None:
        img = frame.to_ndarray(format="rgb24")
    else:
        img = frame.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA").to_ndarray()
    return img, int(getattr(frame, "rotation", 0) or 0)


def _presentation_pts(p: Path) -> list[int] | None:
    """Every video packet's timestamp in presentation order, from a demux-only pass (no decoding).

    None when some packet carries no timestamp or two share one (badly muxed files exist: then frames are
    counted as they are decoded instead). A damaged tail ends the list where demuxing stops."""
    import av

    pts: list[int] = []
    try:
        with av.open(str(p), metadata_errors="ignore") as c:
            for pkt in c.demux(c.streams.video[0]):
                if pkt.size:
                    if pkt.pts is None:
                        return None
                    pts.append(pkt.pts)
    except av.error.FFmpegError:
        pass
    unique = sorted(set(pts))
    return unique if len(unique) == len(pts) else None


def _decode_forward(container, stream, p: Path, duration: float, fps: float, n: int, size, on_frame):
    """(picked, frame count) by one forward decode: by timestamps when every packet has its own, else counting."""
    pts = _presentation_pts(p)
    if pts:
        return _decode_sample(container, stream, pts, n, size, on_frame), len(pts)
    total = stream.frames or (round(duration * fps) if duration and fps else 0)
    return _decode_sample_counting(container, stream, total, n, size), total


def _decode_sample(container, stream, pts: list[int], n: int, size, on_frame=None):
    """Decode forward once; the decoder drops non-reference frames that are not sampled (nothing needs them)."""
    import av

    wanted = {pts[i]: i for i in _targets(len(pts), n)}
    tb, start = stream.time_base, stream.start_time or 0
    cc = stream.codec_context
    picked: list[tuple[int, np.ndarray, int, float]] = []  # (sample position, RGB, rotation, seconds)
    try:
        for pkt in container.demux(stream):
            if pkt.size:
                cc.skip_frame = "DEFAULT" if pkt.pts in wanted else "NONREF"
            for frame in cc.decode(pkt):
                i = wanted.get(frame.pts)
                if i is not None and (not picked or picked[-1][0] != i):
                    if picked and i < picked[-1][0]:
                        on_frame = None  # out of order (never seen): stop streaming; the caller detects afresh
                    img, rot = _rgb(frame, size)
                    picked.append((i, img, rot, float((frame.pts - start) * tb)))
                    if on_frame is not None:
                        on_frame(_upright(img, rot))
            if len(picked) == len(wanted):
                break
    except av.error.FFmpegError as e:
        # A truncated file still yields the frames before the damage; keep them if there are any.
        if not picked:
            raise
        log.warning("decoding stopped early: %s", _reason(e))
    return sorted(picked, key=lambda x: x[0])


def _decode_sample_counting(container, stream, total: int, n: int, size):
    import av

    wanted = _targets(total, n)
    want, last = set(wanted), wanted[-1]
    picked = []
    try:
        for i, frame in enumerate(container.decode(stream)):
            if i in want:
                img, rot = _rgb(frame, size)
                picked.append((i, img, rot, float(frame.time or 0.0)))
            if i >= last:
                break
    except av.error.FFmpegError as e:
        if not picked:
            raise
        log.warning("decoding stopped early: %s", _reason(e))
    return picked


def _decode_first(container, stream, size):
    for frame in container.decode(stream):
        img, rot = _rgb(frame, size)
        return [(0, img, rot, 0.0)]
    return []


def _seek_sample(container, stream, duration: float, n: int, size, budget: int = 3):
    """Samples of a long video by seeking, at a cost that does not grow with its length.

    Each target time maps to the keyframe at or before it (a seek plus one keyframe decode). Targets that share a
    keyframe (keyframes sparser than the samples) are then served by one forward decode from that keyframe, which
    skips non-reference frames and stops after `budget` decoded frames per target, taking the first frame at or
    after each target time, or the next decoded frames once the budget is spent."""
    import numpy as np

    tb = stream.time_base
    fps = float(stream.average_rate or stream.guessed_rate or 0.0)
    start = float(stream.start_time * tb) if stream.start_time else 0.0
    cc = stream.codec_context
    targets = np.linspace(0, duration, n, endpoint=False) + duration / (2 * n)

    def decode_from(t: float, skip: str):
        cc.skip_frame = skip
        container.seek(int((start + t) / tb), stream=stream, backward=True, any_frame=False)
        return container.decode(stream)

    groups: dict[float, list[float]] = {}
    for t in targets:
        key = next((float(f.time or 0.0) - start for f in decode_from(t, "NONKEY")), None)
        if key is not None:
            groups.setdefault(round(key, 6), []).append(float(t))
    picked = []
    for key, times in groups.items():
        frames = decode_from(key + 1e-3, "NONREF")
        todo, used = list(times), 0
        for frame in frames:
            ft = float(frame.time or 0.0) - start
            used += 1
            if ft + 1e-3 >= todo[0] or used == 1 or used > budget * len(times):
                img, rot = _rgb(frame, size)
                picked.append((round(ft * fps), img, rot, ft))
                todo.pop(0)
                if not todo:
                    break
    out, seen = [], set()
    for item in sorted(picked, key=lambda x: x[0]):
        if item[0] not in seen:
            seen.add(item[0])
            out.append(item)
    return out


def exif_orientation(head: bytes) -> int:
    """The EXIF Orientation tag (1-8) of a JPEG, read from its first bytes; 1 when absent or unreadable."""
    if not head.startswith(b"\xff\xd8"):
        return 1
    i = 2
    while i + 4 <= len(head) and head[i] == 0xFF:
        marker, size = head[i + 1], int.from_bytes(head[i + 2 : i + 4], "big")
        if marker == 0xE1 and head[i + 4 : i + 10] == b"Exif\0\0":
            tiff = head[i + 10 : i + 2 + size]
            order: Literal["little", "big"] = "little" if tiff[:2] == b"II" else "big"
            ifd = int.from_bytes(tiff[4:8], order)
            for k in range(int.from_bytes(tiff[ifd : ifd + 2], order)):
                entry = tiff[ifd + 2 + 12 * k : ifd + 14 + 12 * k]
                if len(entry) == 12 and int.from_bytes(entry[:2], order) == 0x0112:
                    value = int.from_bytes(entry[8:10], order)
                    return value if 1 <= value <= 8 else 1
            return 1
        if marker in (0xDA, 0xD9):  # image data starts: no EXIF before it
            break
        i += 2 + size
    return 1


def _exif_upright(img: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 2-8 (mirrors and quarter turns) to a decoded image."""
    import numpy as np

    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(ops[orientation](img)) if orientation in ops else img


def _upright(img: np.ndarray, rotation: int) -> np.ndarray:
    import numpy as np

    # FFmpeg's display-matrix rotation is counter-clockwise degrees; rot90 with k>0 rotates counter-clockwise.
    k = (int(round(rotation / 90)) % 4) if rotation else 0
    return np.ascontiguousarray(np.rot90(img, k)) if k else img
