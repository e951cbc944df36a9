"""Find the media files under the given paths: recursive, by content as well as by name, deterministic.

A file is a candidate when its suffix is a media suffix or its first bytes sniff as a container we decode. Everything
else is skipped and counted, never opened by the decoder. Directories are walked in sorted order; a directory is
entered once per real path, so symlink loops end and a symlinked folder is not scanned twice.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..datasets import VIDEO_SUFFIXES
from ..errors import DeepfakeError
from ..media import IMAGE_SUFFIXES, sniff_container

log = logging.getLogger(__name__)

MEDIA_SUFFIXES = frozenset(IMAGE_SUFFIXES | VIDEO_SUFFIXES)
SNIFF_BYTES = 512  # sniff_container needs 189 bytes for MPEG-TS


@dataclass(frozen=True)
class Discovery:
    """What a walk found. `files` are absolute paths in walk order (sorted per folder, depth first)."""

    files: list[str]
    non_media: int = 0  # regular files that are neither named nor shaped like media
    unreadable: Counter = field(default_factory=Counter)  # reason -> count (permissions, broken links, loops...)

    @property
    def skipped(self) -> int:
        return self.non_media + sum(self.unreadable.values())


def is_candidate(path: Path) -> bool:
    """Media by name, or by its first bytes. Raises OSError when the file cannot be opened."""
    if path.suffix.lower() in MEDIA_SUFFIXES:
        return True
    with open(path, "rb") as f:
        return sniff_container(f.read(SNIFF_BYTES)) is not None


def discover(paths: list[str | os.PathLike]) -> Discovery:
    """Walk files and folders. A path given on the command line that does not exist is an error; anything found
    while walking that cannot be read is skipped with a counted reason."""
    walker = _Walker()
    for p in paths:
        p = Path(p)
        if not os.path.lexists(p):
            raise DeepfakeError(f"no such file or folder: {p}")
        walker.visit(Path(os.path.abspath(p)))
    return Discovery(walker.files, walker.non_media, walker.unreadable)


class _Walker:
    def __init__(self):
        self.files: list[str] = []
        self.non_media = 0
        self.unreadable: Counter = Counter()
        self._seen_dirs: set[str] = set()
        self._seen_files: set[str] = set()

    def skip(self, path: Path, reason: str) -> None:
        log.info("skipped %s: %s", path, reason)
        self.unreadable[reason] += 1

    def visit(self, path: Path) -> None:
        try:
            st = path.stat()  # follows symlinks
        except FileNotFoundError:
            return self.skip(path, "broken symlink")
        except OSError as e:
            return self.skip(path, f"cannot stat: {e.strerror}")
        if stat.S_ISDIR(st.st_mode):
            return self._walk(path)
        if not stat.S_ISREG(st.st_mode):
            return self.skip(path, "not a regular file")  # FIFOs, sockets, devices: never opened
        real = os.path.realpath(path)
        if real in self._seen_files:
            return self.skip(path, "same file as an earlier path")
        try:
            if not is_candidate(path):
                self.non_media += 1
                return
        except OSError as e:
            return self.skip(path, f"cannot open: {e.strerror}")
        self._seen_files.add(real)
        self.files.append(str(path))

    def _walk(self, folder: Path) -> None:
        real = os.path.realpath(folder)
        if real in self._seen_dirs:
            return self.skip(folder, "folder already visited (symlink loop or second link)")
        self._seen_dirs.add(real)
        try:
            with os.scandir(folder) as it:
                names = sorted(entry.name for entry in it)
        except OSError as e:
            return self.skip(folder, f"cannot list folder: {e.strerror}")
        for name in names:
            self.visit(folder / name)
