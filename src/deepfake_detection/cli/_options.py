"""Options and helpers shared by the commands: defined once, validated once."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Iterable, Sized
from typing import TYPE_CHECKING, TypeVar

from ..errors import DeepfakeError
from ..media import DEFAULT_NUM_FRAMES

if TYPE_CHECKING:
    from tqdm import tqdm

T = TypeVar("T")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def add_frames(s: argparse.ArgumentParser, what: str = "frames sampled evenly per video") -> None:
    s.add_argument("--frames", type=positive_int, default=DEFAULT_NUM_FRAMES, help=f"{what} (default: %(default)s)")


def add_model(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--model",
        help="shipped model name or path to an exported .onnx (default: the shipped default; "
        "see `deepfake-detect models`)",
    )


def add_threshold(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--threshold", type=probability, help="P(fake) at or above which a face is FAKE (default: the model card's)"
    )


def add_trust_list(s: argparse.ArgumentParser, env: str = "") -> None:
    s.add_argument(
        "--trust-list",
        metavar="FILE",
        help="PEM file of trust anchors for C2PA content credentials: with it, only credentials signed under one of "
        "them can make the verdict FAKE; without it any intact credentials can, and none counts as trusted"
        + (f" ({env})" if env else ""),
    )


def add_json(s: argparse.ArgumentParser, what: str = "print the result as one JSON object") -> None:
    s.add_argument("--json", action="store_true", help=what)


def add_quiet(s: argparse.ArgumentParser) -> None:
    s.add_argument("--quiet", action="store_true", help="no progress bar (none is drawn when stderr is not a terminal)")


def show_progress(quiet: bool) -> bool:
    """Progress bars are for a person watching: never with --quiet, never when stderr is not a terminal."""
    return not quiet and sys.stderr.isatty()


def progress(items: Iterable[T], quiet: bool, desc: str, unit: str = "it", min_items: int = 1) -> tqdm[T]:
    """A tqdm bar on stderr, only for a person watching: never when --quiet or stderr is not a terminal (it still
    iterates, and its `write` prints without breaking a bar)."""
    from tqdm import tqdm

    total = len(items) if isinstance(items, Sized) else None
    off = not show_progress(quiet) or (total is not None and total < min_items)
    return tqdm(items, desc=desc, unit=unit, file=sys.stderr, disable=off)


def progress_fn(quiet: bool, desc: str, unit: str = "it"):
    """`progress` as the one-argument callable the library functions take (None when no bar would draw)."""
    if not show_progress(quiet):
        return None
    return lambda it: progress(it, False, desc, unit)


# What each extra brings, and the module that proves it is installed.
EXTRAS = {"train": ("torch", "timm", "sklearn", "matplotlib", "onnx"), "ray": ("ray",), "sbi": ("dlib",)}


def require_extra(extra: str, command: str, modules: Iterable[str] | None = None) -> None:
    """Fail in one line, before any work, when the command needs an extra that is not installed."""
    missing = [m for m in (modules or EXTRAS[extra]) if importlib.util.find_spec(m) is None]
    if missing:
        raise DeepfakeError(
            f"`deepfake-detect {command}` needs the {extra} extra (missing: {', '.join(missing)}): "
            f"pip install 'deepfake-detection[{extra}]'  (from a checkout: pip install -e \".[{extra}]\")"
        )
