import cv2
import numpy as np
import pytest

from benchmarks.synthetic import gradient_frames, write_audio_only, write_video
from deepfake_detection.errors import MediaError
from deepfake_detection.media import MediaLimits, read_frames


def test_samples_evenly_across_the_clip(tmp_path):
    path = write_video(tmp_path / "ramp.mp4", gradient_frames(50))
    frames = read_frames(path, num_frames=5)
    assert frames.indices == [0, 12, 24, 37, 49]
    assert frames.times == pytest.approx([i / 10 for i in frames.indices], abs=1e-6)
    # Brightness encodes the frame number, so the right frames (not just the right count) came back.
    means = [img.mean() for img in frames.images]
    assert means == sorted(means) and means[0] < 30 and means[-1] > 200
    assert frames.images[0].shape == (120, 160, 3) and frames.images[0].dtype == np.uint8
    assert (frames.width, frames.height, frames.fps) == (160, 120, 10)


def test_short_clip_returns_every_frame_once(tmp_path):
    frames = read_frames(write_video(tmp_path / "short.mp4", gradient_frames(4)), num_frames=32)
    assert frames.indices == [0, 1, 2, 3]


def test_long_video_is_sampled_by_seeking_keyframes(tmp_path):
    path = write_video(tmp_path / "long.mp4", gradient_frames(60), fps=10, gop=10)
    frames = read_frames(path, num_frames=4, limits=MediaLimits(seek_above_s=1.0))
    # Targets 0.75, 2.25, 3.75, 5.25 s; keyframes every second: each sample is the keyframe at or before it.
    assert frames.times == pytest.approx([0.0, 2.0, 3.0, 5.0], abs=1e-6)
    assert frames.indices == [0, 20, 30, 50]
    means = [img.mean() for img in frames.images]
    assert means == sorted(means)


def test_long_video_with_one_keyframe_still_gives_distinct_samples(tmp_path):
    path = write_video(tmp_path / "long.mp4", gradient_frames(60), fps=10)  # x264 default: one keyframe here
    frames = read_frames(path, num_frames=4, limits=MediaLimits(seek_above_s=1.0))
    assert len(set(frames.indices)) == 4 and frames.indices == sorted(frames.indices)
    assert frames.times == sorted(frames.times)


def test_skipping_unsampled_frames_returns_the_same_pixels(tmp_path):
    """The decoder drops non-reference frames nobody asked for; the sampled frames must be bit-identical."""
    import av

    rng = np.random.default_rng(0)
    clip = [
        np.clip(g.astype(int) + rng.integers(-20, 20, g.shape), 0, 255).astype(np.uint8) for g in gradient_frames(60)
    ]
    path = write_video(tmp_path / "b.mp4", clip, gop=30)
    frames = read_frames(path, num_frames=7)
    with av.open(str(path)) as c:
        every = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert frames.indices == [0, 10, 20, 30, 39, 49, 59]
    for i, img in zip(frames.indices, frames.images):
        assert np.array_equal(img, every[i])


def test_big_frames_are_downscaled_while_converting(tmp_path):
    path = write_video(tmp_path / "big.mp4", gradient_frames(5))
    frames = read_frames(path, num_frames=2, limits=MediaLimits(work_max_side=80))
    assert frames.images[0].shape == (60, 80, 3)
    assert (frames.width, frames.height, frames.scale) == (160, 120, 0.5)


def test_video_with_audio_track_still_reads(tmp_path):
    frames = read_frames(write_video(tmp_path / "av.mp4", gradient_frames(10), audio=True), num_frames=3)
    assert len(frames.images) == 3


def test_rotation_metadata_makes_frames_upright(tmp_path):
    img = np.zeros((60, 100, 3), np.uint8)
    img[:, :50] = 255  # left half white
    path = write_video(tmp_path / "rot.mp4", [img] * 3, rotate=90)
    frames = read_frames(path, num_frames=1)
    assert frames.rotation == -90
    upright = frames.images[0]
    assert upright.shape[:2] == (100, 60) and (frames.width, frames.height) == (60, 100)
    # The patched matrix is what a phone writes for portrait video ("rotate 90" = turn clockwise to display):
    # turning the left-white picture clockwise puts the white half on top.
    assert upright[:50].mean() > 250 and upright[50:].mean() < 5


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp"])
def test_image_is_one_frame(tmp_path, suffix):
    import cv2

    bgr = np.zeros((40, 30, 3), np.uint8)
    bgr[..., 2] = 200  # red in BGR
    cv2.imwrite(str(tmp_path / f"a{suffix}"), bgr)
    frames = read_frames(tmp_path / f"a{suffix}")
    assert frames.is_image and len(frames.images) == 1 and frames.images[0].shape == (40, 30, 3)
    assert frames.images[0][..., 0].mean() > 150 and frames.images[0][..., 2].mean() < 50  # RGB order


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: d / "missing.mp4", "no such file"),
        (lambda d: (d / "empty.mp4").write_bytes(b"") and d / "empty.mp4" or d / "empty.mp4", "empty file"),
        (lambda d: ((d / "text.mp4").write_text("this is not a video\n" * 50), d / "text.mp4")[1], "cannot decode"),
        (lambda d: write_audio_only(d / "audio.m4a"), "no video or image stream"),
        (lambda d: d, "not a regular file"),
    ],
    ids=["missing", "zero-bytes", "text-renamed-mp4", "audio-only", "directory"],
)
def test_bad_inputs_raise_clear_media_errors(tmp_path, make, message):
    with pytest.raises(MediaError, match=message):
        read_frames(make(tmp_path))


def test_truncated_mp4_is_an_error_or_partial_never_a_crash(tmp_path):
    path = write_video(tmp_path / "full.mp4", gradient_frames(40))
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    try:
        frames = read_frames(cut, num_frames=8)
    except MediaError as e:
        assert "cut.mp4" in str(e)
    else:
        assert 1 <= len(frames.images) <= 8


def test_limits_reject_oversized_inputs(tmp_path):
    path = write_video(tmp_path / "v.mp4", gradient_frames(20))
    with pytest.raises(MediaError, match="pixel limit"):
        read_frames(path, limits=MediaLimits(max_pixels=100 * 100))
    with pytest.raises(MediaError, match="s limit"):
        read_frames(path, limits=MediaLimits(max_duration_s=1.0))
    with pytest.raises(MediaError, match="MiB limit"):
        read_frames(path, limits=MediaLimits(max_file_bytes=100))


def test_sniff_container_reads_content_not_names(tmp_path):
    from deepfake_detection.media import sniff_container

    clip = write_video(tmp_path / "clip.mp4", gradient_frames(3))
    assert sniff_container(clip.read_bytes()[:512]) == "mp4"
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    assert sniff_container(png.tobytes()[:512]) == "png"
    ok, jpg = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    assert sniff_container(jpg.tobytes()[:512]) == "jpeg"
    assert sniff_container(b"%PDF-1.7 not a video at all") is None
    assert sniff_container(b"") is None


def _jpeg_with_orientation(img_rgb: np.ndarray, orientation: int) -> bytes:
    import struct

    ok, buf = cv2.imencode(".jpg", img_rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    app1 = b"Exif\x00\x00" + tiff
    data = buf.tobytes()
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_of_photos_is_applied_like_opencv(tmp_path, orientation):
    img = np.zeros((60, 100, 3), np.uint8)
    img[:20, :30] = (255, 0, 0)  # a red block marks the top-left corner
    img[40:, 80:] = (0, 0, 255)
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg_with_orientation(img, orientation))
    ours = read_frames(path).images[0]
    reference = cv2.imread(str(path))[..., ::-1]  # OpenCV applies EXIF orientation itself
    assert ours.shape == reference.shape
    assert np.abs(ours.astype(int) - reference.astype(int)).mean() < 4
    assert (orientation in (5, 6, 7, 8)) == (ours.shape[:2] == (100, 60))


def test_file_whose_frames_all_carry_timestamp_zero_is_still_sampled(tmp_path):
    """Badly muxed files exist (every packet at pts 0): frames are then counted as they are decoded."""
    import av

    src = write_video(tmp_path / "src.mp4", gradient_frames(20))
    path = tmp_path / "zero_pts.mp4"
    with av.open(str(src)) as inp, av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        for frame in inp.decode(video=0):
            img = frame.reformat(format="yuv420p")
            img.pts = None  # a re-encoder that drops timestamps: the muxer writes 0 for every packet
            for pkt in s.encode(img):
                out.mux(pkt)
        for pkt in s.encode():
            out.mux(pkt)
    with av.open(str(path)) as c:
        assert {p.pts for p in c.demux(video=0) if p.size} == {0}
    frames = read_frames(path, num_frames=5)
    assert len(frames.images) == 5
    means = [img.mean() for img in frames.images]
    assert means == sorted(means) and means[-1] > 200


def test_long_video_that_cannot_be_seeked_is_decoded_forward(tmp_path, monkeypatch):
    import av

    import deepfake_detection.media as media

    def broken_index(*args, **kwargs):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(media, "_seek_sample", broken_index)
    path = write_video(tmp_path / "long.mp4", gradient_frames(60), fps=10)
    frames = read_frames(path, num_frames=4, limits=MediaLimits(seek_above_s=1.0))
    assert frames.indices == [0, 20, 39, 59]
    assert any("decoded from the start" in w for w in frames.warnings)
