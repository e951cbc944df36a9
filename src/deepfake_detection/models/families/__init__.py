"""Model families; importing this package registers every variant."""

from . import efficientnet, inception, mesonet, resnet, sequence  # noqa: F401
