"""Training: datasets and grouped splits, augmentation, the trainer and ONNX export (needs the `train` extra)."""
