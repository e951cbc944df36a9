"""Model families; importing this package registers every variant."""

from . import efficientnet  # noqa: F401
