"""SPEC §1 augmentation on real clips: shapes, missing points, left/right semantics, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from signclip_hf.modeling import KEYPOINT_LAYOUTS, SignCLIPFeatureExtractor, read_keypoints
from torch.utils.data import DataLoader

from signclip_hf.data import AugmentationConfig, PoseAugmentation, SignCLIPCollator
from signclip_hf.data.augment import affine_matrix, stretch
from signclip_hf.sample_data import GESTURES_DIR

from fixtures.tiny import tiny_processor

LAYOUT = KEYPOINT_LAYOUTS["holistic"]
LEFT_HAND, RIGHT_HAND = (
    slice(LAYOUT.flat_index(hand, "WRIST"), LAYOUT.flat_index(hand, "WRIST") + 21)
    for hand in ("LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS")
)
OFF = dict(stretch_std=0.0, rotation_std=0.0, shear_std=0.0, scale_std=0.0, mirror_probability=0.0, noise_std=0.0)
LEFT_HANDED = GESTURES_DIR / "signer07" / "hello" / "000.pose"  # left hand in all 30 frames, right hand never
PARTIAL = GESTURES_DIR / "signer12" / "i_love_you" / "000.pose"  # both hands, each missing in some frames


def features(path) -> np.ndarray:
    return SignCLIPFeatureExtractor().extract(path)


def points(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), LAYOUT.num_points, 3)


def present(x: np.ndarray) -> np.ndarray:
    return (points(x) != 0).any(axis=-1)


def augment(x: np.ndarray, seed: int = 0, max_frames: int = 256, **config) -> np.ndarray:
    extractor = SignCLIPFeatureExtractor(max_frames=max_frames)
    return PoseAugmentation(AugmentationConfig(**{**OFF, **config}, seed=seed), extractor)(x)


def test_mirror_turns_the_left_hand_into_the_right_hand():
    clip = features(LEFT_HANDED)
    assert present(clip)[:, LEFT_HAND].all() and not present(clip)[:, RIGHT_HAND].any()
    mirrored = points(augment(clip, mirror_probability=1.0))
    source = points(clip)
    np.testing.assert_array_equal(mirrored[:, RIGHT_HAND, 0], -source[:, LEFT_HAND, 0])
    np.testing.assert_array_equal(mirrored[:, RIGHT_HAND, 1:], source[:, LEFT_HAND, 1:])
    assert (mirrored[:, LEFT_HAND] == 0).all() and not np.signbit(mirrored[:, LEFT_HAND]).any()
    left_shoulder, right_shoulder = (LAYOUT.flat_index("POSE_LANDMARKS", f"{s}_SHOULDER") for s in ("LEFT", "RIGHT"))
    np.testing.assert_array_equal(mirrored[:, left_shoulder, 0], -source[:, right_shoulder, 0])


@pytest.mark.parametrize(
    "config",
    [dict(rotation_std=0.2), dict(shear_std=0.2), dict(scale_std=0.2), dict(noise_std=0.001),
     dict(rotation_std=0.2, shear_std=0.2, scale_std=0.2, noise_std=0.001)],
)
def test_shape_and_missing_points_kept(config):
    clip = features(PARTIAL)
    out = augment(clip, seed=1, **config)
    assert out.shape == clip.shape and out.dtype == np.float32
    np.testing.assert_array_equal(present(out), present(clip))
    assert (points(out)[~present(clip)] == 0).all()
    assert not np.array_equal(out, clip)


def test_affine_is_pose_formats_augment2d():
    clip = features(PARTIAL)
    rotated = points(augment(clip, seed=2, rotation_std=0.2))
    source = points(clip)
    radius = np.linalg.norm(source[..., :2], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(rotated[..., :2], axis=-1), radius, atol=1e-5)
    np.testing.assert_array_equal(rotated[..., 2], source[..., 2])  # 2D: z untouched
    scaled = points(augment(clip, seed=2, scale_std=0.2))
    np.testing.assert_array_equal(scaled[..., 0], source[..., 0])  # scale acts on y only, as pose-format
    factor = np.random.default_rng(2).normal(0, 0.2)
    np.testing.assert_allclose(scaled[..., 1], source[..., 1] * (1 + factor), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(affine_matrix(0.0, 0.5, 0.0), [[1.0, 0.5], [0.0, 1.0]])


def test_noise_only_on_observed_points():
    clip = features(PARTIAL)
    noisy = augment(clip, seed=3, noise_std=0.001)
    difference = (points(noisy) - points(clip))[present(clip)]
    assert 0.0008 < difference.std() < 0.0012 and abs(difference.mean()) < 1e-4


def test_temporal_stretch_interpolates_linearly():
    clip = features(PARTIAL)
    source, seen = points(clip).astype(np.float64), present(clip)
    stretched, kept = stretch(source, seen, 59)  # 30 -> 59 frames: frame 2k is source k, 2k+1 halfway
    np.testing.assert_array_equal(stretched[::2], np.where(seen[..., None], source, 0))
    both = seen[:-1] & seen[1:]
    np.testing.assert_allclose(stretched[1::2][both], ((source[:-1] + source[1:]) / 2)[both])
    assert (stretched[1::2][~both] == 0).all() and np.array_equal(kept[1::2], both)
    lengths = {len(augment(clip, seed=s, stretch_std=0.2)) for s in range(20)}
    assert len(lengths) > 5 and min(lengths) >= 1 and max(lengths) < 256
    # never stretched to max_frames or beyond
    assert all(len(augment(clip, seed=s, stretch_std=0.2, max_frames=31)) <= 30 for s in range(20))


def test_full_augmentation_is_seeded():
    clip = features(PARTIAL)
    first, second = PoseAugmentation(AugmentationConfig(seed=7)), PoseAugmentation(AugmentationConfig(seed=7))
    outputs = [first(clip) for _ in range(5)]
    for out in outputs:
        np.testing.assert_array_equal(out, second(clip))
        assert out.shape[1] == clip.shape[1] and (points(out)[~present(out)] == 0).all()
    assert len({o.tobytes() for o in outputs}) == 5
    assert AugmentationConfig.released().rotation_std == 0 and AugmentationConfig.released().stretch_std == 0.2


def test_collator_applies_augmentation_before_padding():
    rows = []
    for path in (LEFT_HANDED, PARTIAL):
        pose, confidence, _ = read_keypoints(path)
        rows.append({"pose": pose, "confidence": confidence, "text": "hello"})
    augmentation = PoseAugmentation(AugmentationConfig(seed=0))
    batch = SignCLIPCollator(tiny_processor(), augmentation=augmentation)(rows)
    reference = PoseAugmentation(AugmentationConfig(seed=0))
    expected = [reference(features(LEFT_HANDED)), reference(features(PARTIAL))]
    lengths = batch["pose_attention_mask"].sum(1).tolist()
    assert lengths == [len(e) for e in expected] and batch["pose_values"].shape[1] == max(lengths)
    for i, e in enumerate(expected):
        torch.testing.assert_close(batch["pose_values"][i, : len(e)], torch.from_numpy(e), rtol=0, atol=0)
        assert (batch["pose_values"][i, len(e):] == 0).all()


def test_dataloader_workers_draw_different_augmentations():
    clip = features(PARTIAL)
    augmentation = PoseAugmentation(AugmentationConfig(**{**OFF, "noise_std": 0.01}, seed=0))
    loader = DataLoader([clip] * 4, batch_size=1, num_workers=2, collate_fn=lambda rows: augmentation(rows[0]))
    first_of_each_worker = list(loader)[:2]  # batches alternate between the workers
    assert not np.array_equal(*first_of_each_worker)


def test_layout_comes_from_the_feature_extractor():
    """A one-hand layout is augmented as 21 points (not reshaped to the holistic 203); it cannot mirror."""
    clip = np.random.default_rng(0).normal(size=(12, 63)).astype(np.float32)
    right_hand = SignCLIPFeatureExtractor(keypoint_layout="right_hand")
    out = PoseAugmentation(AugmentationConfig(**{**OFF, "noise_std": 0.01}, seed=0), right_hand)(clip)
    assert out.shape == (12, 63) and 0 < np.abs(out - clip).max() < 0.1
    with pytest.raises(ValueError, match="mirror_probability=0.2 needs a keypoint layout with both hands"):
        PoseAugmentation(AugmentationConfig(), right_hand)
    with pytest.raises(ValueError, match=r"expected \(frames, 609\) features of the 'holistic' layout, got \(12, 63\)"):
        PoseAugmentation(AugmentationConfig(**OFF))(clip)
