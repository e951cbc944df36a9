"""Batch scanning: every video and image under some folders into a resumable JSON Lines file, with CSV and HTML
views (`deepfake-detect scan`, docs/SCAN.md). One public entry: `scan(paths, out, ...)`."""

from .run import BatchSummary, scan

__all__ = ["BatchSummary", "scan"]
