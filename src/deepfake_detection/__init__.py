"""Deepfake detection: video or image in, per-face calibrated FAKE probability out."""

__version__ = "0.1.0"
