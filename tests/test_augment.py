"""Training augmentation: random erasing hides one flat rectangle and nothing else; off, it changes nothing."""

import numpy as np

from deepfake_detection.train.augment import augment_batch, erase


def _crop(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (128, 128, 3), dtype=np.uint8)


def test_erase_fills_one_flat_rectangle_within_bounds():
    img = _crop()
    for seed in range(50):
        out = erase(img, np.random.default_rng(seed))
        changed = np.any(out != img, axis=2)
        ys, xs = np.nonzero(changed)
        assert out.shape == img.shape and len(ys) > 0
        box = out[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        assert len(np.unique(box)) == 1  # one grey level over the whole box
        area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1) / img.shape[0] / img.shape[1]
        assert 0.01 < area <= 0.26
        assert np.array_equal(out[~changed], img[~changed])


def test_erase_share_zero_keeps_the_old_random_stream():
    batch = np.stack([_crop(i) for i in range(4)])
    a = augment_batch(batch, np.random.default_rng(3))
    b = augment_batch(batch, np.random.default_rng(3), 0.0)
    assert np.array_equal(a, b)


def test_erase_share_one_erases_every_crop_after_the_same_augmentation():
    batch = np.stack([_crop(i) for i in range(8)])
    plain = augment_batch(batch, np.random.default_rng(5))
    erased = augment_batch(batch, np.random.default_rng(5), 1.0)
    for before, after in zip(plain, erased, strict=True):
        ys, xs = np.nonzero(np.any(after != before, axis=2))
        assert len(ys) > 0.01 * 128 * 128  # every crop lost a rectangle ...
        box = after[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        assert len(np.unique(box)) == 1  # ... and only that: the rest is the plain augmentation, draw for draw


def test_a_share_outside_0_1_is_a_clear_config_error(tmp_path):
    import pytest

    from deepfake_detection.config import load_config
    from deepfake_detection.errors import ConfigError
    from deepfake_detection.train.config import TrainConfig

    for option in ("erase", "sbi"):
        (tmp_path / "c.yaml").write_text(f"{option}: 1.5\n")
        with pytest.raises(ConfigError, match=f"option {option} is a share between 0 and 1"):
            load_config(TrainConfig, tmp_path / "c.yaml")
    assert load_config(TrainConfig, None, erase=0.5).erase == 0.5
