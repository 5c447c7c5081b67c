"""Training augmentation of pose features, applied on the fly to one clip's (T, D) features.

The released SignCLIP (Jiang et al., EMNLP 2024; fairseq examples/MMPT) used only the temporal stretch; the
2D affine (pose-format's `augment2d`), the mirror and the noise were ablations in the paper.
`AugmentationConfig()` enables all four; `AugmentationConfig.released()` gives the released model's recipe.
The keypoint layout and `max_frames` come from the feature extractor that made the features. All operations
are vectorized over frames, and a missing point (all three coordinates 0, as the feature extractor writes it) stays
exactly 0: the affine map has no translation, and noise and interpolation skip missing points.

Use it through the collator, on the training split only:
`SignCLIPCollator(processor, augmentation=PoseAugmentation(config, processor.feature_extractor))`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..modeling import KEYPOINT_LAYOUTS, SignCLIPFeatureExtractor, mirror_features


@dataclass
class AugmentationConfig:
    """Standard deviations / probabilities of each augmentation; 0 disables one.

    Args:
        stretch_std: temporal stretch, ratio ~ N(1, stretch_std), by linear interpolation to
            round(T * ratio) frames, applied only when the result has fewer than the feature extractor's
            `max_frames` frames.
        rotation_std: 2D rotation angle in radians ~ N(0, rotation_std).
        shear_std: x-shear factor ~ N(0, shear_std).
        scale_std: y-scale factor ~ 1 + N(0, scale_std) (as pose-format's `augment2d`).
        mirror_probability: probability of a mirror (x negated, left/right points swapped).
        noise_std: Gaussian noise added to the observed points' coordinates.
        seed: seed of the numpy Generator (None: fresh entropy).
    """

    stretch_std: float = 0.2
    rotation_std: float = 0.2
    shear_std: float = 0.2
    scale_std: float = 0.2
    mirror_probability: float = 0.2
    noise_std: float = 0.001
    seed: int | None = None

    @classmethod
    def released(cls, seed: int | None = None) -> "AugmentationConfig":
        """The released SignCLIP's training augmentation: temporal stretch only."""
        return cls(rotation_std=0.0, shear_std=0.0, scale_std=0.0, mirror_probability=0.0, noise_std=0.0, seed=seed)


def affine_matrix(rotation: float, shear: float, scale: float) -> np.ndarray:
    """The 2x2 matrix applied to row vectors (x, y): shear @ rotation @ scale, as pose-format's `augment2d`."""
    cos, sin = np.cos(rotation), np.sin(rotation)
    return np.array([[1.0, shear], [0.0, 1.0]]) @ np.array([[cos, -sin], [sin, cos]]) @ np.diag([1.0, 1.0 + scale])


def stretch(points: np.ndarray, present: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of (T, K, 3) points to `length` frames (endpoints kept).

    An output point is present only if it is present in both source frames that bracket it (or in the
    one it falls on exactly); missing points are 0.
    """
    source = np.linspace(0.0, len(points) - 1, length)
    lower = np.floor(source).astype(np.int64)
    upper = np.minimum(lower + 1, len(points) - 1)
    weight = (source - lower)[:, None, None]
    values = (1 - weight) * points[lower] + weight * points[upper]
    kept = present[lower] & (present[upper] | (weight[..., 0] == 0))
    return np.where(kept[..., None], values, 0), kept


class PoseAugmentation:
    """Callable augmentation of one clip's (T, D) features -> (T', D) float32 features.

    `feature_extractor`: the one that made the features (its `keypoint_layout` and `max_frames`; default: the
    released holistic layout, 256 frames). Inside torch DataLoader workers each worker draws from its own
    Generator (seeded from `seed` and the worker's torch seed), so workers do not repeat each other's augmentations.
    """

    def __init__(
        self, config: AugmentationConfig | None = None, feature_extractor: SignCLIPFeatureExtractor | None = None
    ):
        self.config = config or AugmentationConfig()
        feature_extractor = feature_extractor or SignCLIPFeatureExtractor()
        self.keypoint_layout, self.max_frames = feature_extractor.keypoint_layout, feature_extractor.max_frames
        layout = KEYPOINT_LAYOUTS[self.keypoint_layout]
        if self.config.mirror_probability > 0:
            layout.require_both_hands(f"mirror_probability={self.config.mirror_probability}", self.keypoint_layout)
        self.num_points = layout.num_points
        self.rng = np.random.default_rng(self.config.seed)
        self._worker_seed: int | None = None

    def _generator(self) -> np.random.Generator:
        from torch.utils.data import get_worker_info

        info = get_worker_info()
        if info is not None and info.seed != self._worker_seed:
            self._worker_seed = info.seed
            self.rng = np.random.default_rng([self.config.seed or 0, info.seed])
        return self.rng

    def __call__(self, features: np.ndarray) -> np.ndarray:
        config, rng = self.config, self._generator()
        if features.ndim != 2 or features.shape[-1] != 3 * self.num_points:
            raise ValueError(
                f"expected (frames, {3 * self.num_points}) features of the {self.keypoint_layout!r} layout, got "
                f"{tuple(features.shape)}: give PoseAugmentation the feature extractor that made them"
            )
        points = np.array(features, dtype=np.float64).reshape(len(features), self.num_points, 3)
        present = (points != 0).any(axis=-1)
        if config.stretch_std > 0:
            length = int(round(len(points) * rng.normal(1.0, config.stretch_std)))
            if 1 <= length < self.max_frames and length != len(points):
                points, present = stretch(points, present, length)
        if config.mirror_probability > 0 and rng.random() < config.mirror_probability:
            points = mirror_features(points.reshape(len(points), -1), self.keypoint_layout).reshape(points.shape)
            present = present[:, KEYPOINT_LAYOUTS[self.keypoint_layout].mirror_permutation()]
        if config.rotation_std > 0 or config.shear_std > 0 or config.scale_std > 0:
            matrix = affine_matrix(
                rng.normal(0.0, config.rotation_std) if config.rotation_std > 0 else 0.0,
                rng.normal(0.0, config.shear_std) if config.shear_std > 0 else 0.0,
                rng.normal(0.0, config.scale_std) if config.scale_std > 0 else 0.0,
            )
            points[..., :2] = points[..., :2] @ matrix
        if config.noise_std > 0:
            points = points + rng.normal(0.0, config.noise_std, size=points.shape) * present[..., None]
        points[~present] = 0  # also turns the -0.0 of mirrored missing points into 0.0
        return points.reshape(len(points), -1).astype(np.float32)
