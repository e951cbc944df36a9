"""Model families; importing this package registers every variant."""

from . import efficientnet, mesonet, resnet, sequence  # noqa: F401
