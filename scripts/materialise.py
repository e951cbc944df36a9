"""Take the files a shared manifest lists (DATA.md §5 talking heads, §6 real footage) out of fetched snapshots.

    python scripts/materialise.py --manifest ../shared/data/talking-heads/MANIFEST.csv --snapshots /work/.mirror \\
        --out data/talking-heads

Each row names `source_repo`, `source_commit`, `source_path`, `sha256` and the `file` to write. The snapshot of
`owner/name` is looked up as SNAPSHOTS/owner+name/repo (a bare git directory, or a work tree with `.git` inside),
as the `fetch` tool lays them out. Files already present with the right hash are kept; a file whose bytes do not
match the manifest's hash is not written. Prints the repositories still to fetch and exits 1 while any row is
missing, so it can be rerun after fetching them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
from pathlib import Path


def git_dir(snapshots: Path, repo: str) -> Path | None:
    """The git directory of `repo`'s snapshot, or None when it has not been fetched."""
    root = snapshots / repo.replace("/", "+") / "repo"
    for candidate in (root / ".git", root):
        if (candidate / "HEAD").is_file():
            return candidate
    return None


def materialise(manifest: Path, snapshots: Path, out: Path) -> tuple[int, int, list[str], list[str]]:
    """(rows, files present with the right hash, repositories not fetched, rows that failed with why)."""
    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    missing = {"file", "source_repo", "source_commit", "source_path", "sha256"} - set(rows[0] if rows else ())
    if missing:
        raise SystemExit(f"{manifest}: no rows, or missing column(s) {', '.join(sorted(missing))}")
    out.mkdir(parents=True, exist_ok=True)
    ok, unfetched, failed = 0, set[str](), []
    for row in rows:
        dest = out / row["file"]
        if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == row["sha256"]:
            ok += 1
            continue
        gd = git_dir(snapshots, row["source_repo"])
        if gd is None:
            unfetched.add(row["source_repo"])
            continue
        spec = f"{row['source_commit']}:{row['source_path']}"
        got = subprocess.run(["git", "--git-dir", str(gd), "show", spec], capture_output=True)
        if got.returncode != 0:  # e.g. a file of 4 MiB or more, absent from the snapshot
            failed.append(f"{row['file']}: {got.stderr.decode(errors='replace').strip()[:120]}")
            continue
        if hashlib.sha256(got.stdout).hexdigest() != row["sha256"]:
            failed.append(f"{row['file']}: sha256 differs from the manifest's")
            continue
        dest.write_bytes(got.stdout)
        ok += 1
    return len(rows), ok, sorted(unfetched), failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, required=True)
    ap.add_argument("--snapshots", type=Path, required=True, help="folder of fetched snapshots (owner+name/repo)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    total, ok, unfetched, failed = materialise(args.manifest, args.snapshots, args.out)
    print(f"{ok} of {total} files present with the manifest's hash in {args.out}")
    for repo in unfetched:
        print(f"not fetched: github:{repo}")
    for line in failed:
        print(f"failed: {line}")
    return 0 if ok == total else 1


if __name__ == "__main__":
    sys.exit(main())
