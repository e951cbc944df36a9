"""Typed errors. Stages raise these; only the interfaces map them to exit codes or HTTP statuses."""


class DeepfakeError(Exception):
    """Base class for every error this package raises on purpose."""


class MediaError(DeepfakeError):
    """The input cannot be read as a video or image (missing, empty, corrupt, audio-only, too big)."""


class ModelError(DeepfakeError):
    """Unknown model name, missing weights or a model that cannot be run."""


class ConfigError(DeepfakeError):
    """A training or evaluation config is invalid."""
