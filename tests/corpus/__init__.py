"""Bad-input corpus: hostile, broken, huge and odd media made at test time (nothing large is committed).

Each `Case` names the file it writes and the outcome every interface must give for it: a verdict (REAL or FAKE,
whichever the model says), NO_FACE, or ERROR, plus a fragment the reason, error or warnings must contain.
`write(case, root)` makes one file; `write_all(root)` makes the whole corpus.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import makers as mk

VERDICT, NO_FACE, ERROR = "verdict", "NO_FACE", "ERROR"


@dataclass(frozen=True)
class Case:
    name: str
    filename: str  # relative to the corpus root; may hold spaces, unicode and '..' segments
    make: Callable[[Path], None]  # writes the file at the given path
    outcome: str  # VERDICT, NO_FACE or ERROR from `detect` (and from a finished API scan)
    fragment: str = ""  # lower-case text expected in the reason, error or warnings
    refused: int | None = None  # HTTP status the API answers the upload itself with (then no scan is made)
    uploadable: bool = True  # False: a file-system oddity with no bytes to upload (symlink loop)
    max_seconds: float = 60.0  # detect must answer within this

    def path(self, root: Path) -> Path:
        return root / self.filename


CASES: tuple[Case, ...] = (
    Case("empty", "empty.mp4", mk.empty, ERROR, "empty file", refused=400),
    Case("truncated_10", "truncated_10.mp4", mk.truncated(0.10), ERROR, "cannot decode"),
    Case("truncated_50", "truncated_50.mp4", mk.truncated(0.50), ERROR, "cannot decode"),
    Case("truncated_99", "truncated_99.mp4", mk.truncated(0.99), VERDICT),  # only the index's tail is lost
    # index first (faststart): the frames before the cut still decode, and the report says some are missing
    Case(
        "truncated_75_faststart", "truncated_75_faststart.mp4", mk.truncated(0.75, faststart=True), VERDICT, "decoded"
    ),
    Case("random_bytes", "random.mp4", mk.random_bytes, ERROR, "cannot decode", refused=415),
    Case("text", "notes.mp4", mk.text, ERROR, "cannot decode", refused=415),
    Case("html", "page.mp4", mk.html, ERROR, "cannot decode", refused=415),
    Case("zip", "archive.mp4", mk.zip_file, ERROR, "cannot decode", refused=415),
    Case("audio_only", "audio_only.mp4", mk.audio_only, ERROR, "no video"),
    Case("single_frame", "single_frame.mp4", mk.single_frame, VERDICT),
    Case("all_black", "all_black.mp4", mk.all_black, NO_FACE, "no face"),
    Case("dark_face", "dark_face.mp4", mk.dark_face, VERDICT, "dark footage"),
    Case("rotated_phone", "rotated_phone.mp4", mk.rotated_phone, VERDICT),
    Case("variable_frame_rate", "vfr.mp4", mk.variable_frame_rate, VERDICT),
    # FFmpeg itself refuses a 20000 x 20000 header (over its INT_MAX/8 byte check), before any pixel is allocated
    Case("png_bomb", "bomb.png", mk.png_bomb, ERROR, "cannot decode"),
    Case("png_bomb_9000", "bomb_9000.png", mk.png_bomb_9000, ERROR, "pixel limit"),
    Case("long_4k", "long_4k.mp4", mk.long_4k, VERDICT, max_seconds=90.0),
    Case("twelve_faces", "twelve_faces.mp4", mk.twelve_faces, VERDICT, "12 faces"),
    Case("tiny_face", "tiny_face.mp4", mk.tiny_face, NO_FACE, "too small to judge"),
    Case("exif_rotated", "exif_rotated.jpg", mk.exif_rotated, VERDICT),
    Case("odd_name", "odd dir/../ünïcødé clip ..  😀 ...mp4", mk.face_clip, VERDICT),
    Case("symlink_loop", "loops/loop_a.mp4", mk.symlink_loop, ERROR, "no such file", uploadable=False),
    # Content credentials (C2PA) that are damaged, huge or junk: a warning or nothing, never a crash, a stall or a
    # verdict made by them
    Case("c2pa_damaged_manifest", "c2pa_damaged.mp4", mk.c2pa_damaged_manifest, VERDICT, "present but invalid"),
    Case("c2pa_huge_manifest", "c2pa_huge.mp4", mk.c2pa_huge_manifest, VERDICT, "mib of memory to read"),
    Case("c2pa_junk_jumbf", "c2pa_junk.jpg", mk.c2pa_junk_jumbf, VERDICT, "present but invalid"),
)

BY_NAME = {c.name: c for c in CASES}


def write(case: Case, root: Path) -> Path:
    path = case.path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    case.make(path)
    return path


def write_all(root: Path, cases=CASES) -> dict[str, Path]:
    return {c.name: write(c, root) for c in cases}


def outcome_of(verdict: str) -> str:
    """REAL and FAKE are both a verdict: the corpus checks that a file is judged, not what the model thinks."""
    return VERDICT if verdict in ("REAL", "FAKE") else verdict


def check(case: Case, verdict: str, *texts) -> None:
    """Assert `verdict` and the report's texts (reason, error, warnings...) are what `case` expects."""
    said = " | ".join(str(t) for t in texts if t)
    assert outcome_of(verdict) == case.outcome, f"{case.name}: expected {case.outcome}, got {verdict}: {said}"
    assert case.fragment in said.lower(), f"{case.name}: expected {case.fragment!r} in: {said}"
