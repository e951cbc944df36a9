"""`deepfake-detect sbi-preview`: a contact sheet of self-blended pseudo-fakes, to check them by eye."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DeepfakeError
from . import _options as opt

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def register(sub) -> None:
    s = sub.add_parser("sbi-preview", help="contact sheet of self-blended pseudo-fakes made from real face crops")
    s.add_argument("images", help="folder of REAL face crops (jpg/png)")
    s.add_argument("--out", default="sbi_preview.png", help="PNG to write (default: %(default)s)")
    s.add_argument("--n", type=opt.positive_int, default=8, help="number of faces (default: %(default)s)")
    s.add_argument("--size", type=opt.positive_int, default=128, help="crop side in px (default: %(default)s)")
    s.add_argument(
        "--landmarks",
        type=int,
        choices=(5, 68),
        default=68,
        help="mask from dlib's 68 points (the `sbi` extra) or YuNet's 5 (default: %(default)s)",
    )
    s.add_argument(
        "--region",
        choices=("face", "lower"),
        default="face",
        help="blend the whole face, or the mouth / nose-to-chin only (the config's sbi_region; default: %(default)s)",
    )
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import cv2

    from ..train.landmarks import landmark_finder
    from ..train.sbi import contact_sheet

    folder = Path(args.images)
    if not folder.is_dir():
        raise DeepfakeError(f"{folder} is not a folder of face crops")
    find = landmark_finder(args.landmarks)
    images, landmarks = [], []
    for p in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        bgr = cv2.imread(str(p))
        if bgr is None:
            continue
        rgb = cv2.resize(bgr, (args.size, args.size), interpolation=cv2.INTER_AREA)[..., ::-1].copy()
        found = find(rgb)
        if found is not None:
            images.append(rgb)
            landmarks.append(found)
        if len(images) == args.n:
            break
    if not images:
        raise DeepfakeError(f"no face found in the images of {args.images}")
    sheet = contact_sheet(images, landmarks, seed=args.seed, region=args.region)
    cv2.imwrite(args.out, sheet[..., ::-1])
    print(f"wrote {args.out}: rows are originals, masks, self-blended images, |difference| x4 ({len(images)} faces)")
    return 0
