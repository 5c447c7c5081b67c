"""Keypoint geometry for SignCLIP: which MediaPipe Holistic points become features, shoulder normalization, mirroring.

As the released SignCLIP (Jiang et al., EMNLP 2024; fairseq examples/MMPT) preprocesses poses: the layout's
keypoints selected by name, normalized by the shoulders over the whole clip (pose-format `Pose.normalize`
with `pose_normalization_info`), legs hidden, missing points 0. Pure numpy, vectorized over frames and clips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import NoReturn

import numpy as np

BODY_POINTS = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE", "RIGHT_EYE_OUTER",
    "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_ELBOW",
    "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX",
    "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE",
    "LEFT_HEEL", "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)  # fmt: skip
HAND_POINTS = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP", "INDEX_FINGER_MCP", "INDEX_FINGER_PIP",
    "INDEX_FINGER_DIP", "INDEX_FINGER_TIP", "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP",
    "MIDDLE_FINGER_TIP", "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)  # fmt: skip
# MediaPipe FACEMESH_CONTOURS point indices, sorted ascending (128 points), as names in the .pose header.
FACE_CONTOUR_POINTS = tuple(str(i) for i in (
    0, 7, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80, 81, 82, 84,
    87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155,
    157, 158, 159, 160, 161, 162, 163, 172, 173, 176, 178, 181, 185, 191, 234, 246, 249, 251, 263, 267, 269, 270,
    276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324,
    332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388,
    389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466,
))  # fmt: skip
LEG_POINTS = BODY_POINTS[25:]  # knees, ankles, heels, foot indices: hidden, as in the original


class InvalidPoseError(ValueError):
    """A pose input that cannot become features; the message names the input and the problem."""

    def __init__(self, source: str, problem: str):
        self.source, self.problem = source, problem
        super().__init__(f"{source}: {problem}")


class CorruptPoseError(InvalidPoseError):
    """Not a readable `.pose` file (truncated, another format, garbage bytes)."""


class EmptyPoseError(InvalidPoseError):
    """A clip with zero frames, or a file that holds no person."""


class PoseLayoutError(InvalidPoseError):
    """The file's keypoint layout lacks components or points that the configured layout needs."""


class NonFinitePoseError(InvalidPoseError):
    """NaN or infinite coordinates on observed points, or coordinates so large that the features overflow."""


class DegeneratePoseError(InvalidPoseError):
    """Normalization is impossible (no frame where both shoulders are seen, or they coincide)."""


@dataclass(frozen=True)
class KeypointLayout:
    """Which keypoints become features, and how they are normalized.

    `components` are (component name, point names) in feature order; `shoulders` the two
    (component, point) pairs whose midpoint/distance normalize the clip (None: no normalization);
    `hidden` points are zeroed. Mirroring swaps the components and points whose names differ only
    by LEFT/RIGHT (`mirror_permutation`); it, and telling left-handed clips apart (`left_handed_clips`), needs
    both hands (`has_both_hands`).
    """

    components: tuple[tuple[str, tuple[str, ...]], ...]
    shoulders: tuple[tuple[str, str], tuple[str, str]] | None = None
    hidden: tuple[tuple[str, str], ...] = ()

    @property
    def num_points(self) -> int:
        return sum(len(points) for _, points in self.components)

    @property
    def feature_dim(self) -> int:
        return 3 * self.num_points

    @property
    def has_both_hands(self) -> bool:
        """True when the layout has both hand components: only then can it mirror or tell the dominant hand."""
        names = {name for name, _ in self.components}
        return {"LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"} <= names

    def require_both_hands(self, what: str, layout_name: str = "this") -> None:
        """Raise a ValueError naming `what` (e.g. "mirror_left_handed=True") unless the layout has both hands."""
        if not self.has_both_hands:
            components = ", ".join(name for name, _ in self.components)
            raise ValueError(
                f"{what} needs a keypoint layout with both hands; the {layout_name!r} layout has only {components}"
            )

    def hand_features(self, features: np.ndarray, side: str) -> np.ndarray:
        """The (..., T, 3 × 21) slice of (..., T, 3K) features holding the `side` ("LEFT"/"RIGHT") hand."""
        start = self.flat_index(f"{side}_HAND_LANDMARKS", "WRIST") * 3
        return features[..., start : start + 3 * len(HAND_POINTS)]

    def flat_index(self, component: str, point: str) -> int:
        offset = 0
        for name, points in self.components:
            if name == component:
                return offset + points.index(point)
            offset += len(points)
        raise KeyError(f"{component}/{point} is not in this layout")

    @cached_property
    def shoulder_indices(self) -> tuple[int, int] | None:
        return None if self.shoulders is None else tuple(self.flat_index(*p) for p in self.shoulders)

    @cached_property
    def kept_points(self) -> np.ndarray:
        """(K,) bool: False for the hidden points."""
        kept = np.ones(self.num_points, dtype=bool)
        kept[[self.flat_index(*p) for p in self.hidden]] = False
        return kept

    def mirror_permutation(self) -> np.ndarray:
        """Point permutation that swaps left and right (hands, and LEFT_*/RIGHT_* body points).

        Face contour points keep their place (their left/right pairing is not named in the file).
        """
        permutation = np.arange(self.num_points)
        names = [(c, p) for c, points in self.components for p in points]
        position = {name: i for i, name in enumerate(names)}
        for i, (component, point) in enumerate(names):
            swapped = (_swap_side(component), _swap_side(point))
            if swapped in position:
                permutation[i] = position[swapped]
        return permutation


def _swap_side(name: str) -> str:
    if "LEFT" in name:
        return name.replace("LEFT", "RIGHT")
    return name.replace("RIGHT", "LEFT")


KEYPOINT_LAYOUTS: dict[str, KeypointLayout] = {
    # The released SignCLIP: 33 body + 128 face contour + 2 × 21 hand points = 203 points, 609 features.
    "holistic": KeypointLayout(
        components=(
            ("POSE_LANDMARKS", BODY_POINTS),
            ("FACE_LANDMARKS", FACE_CONTOUR_POINTS),
            ("LEFT_HAND_LANDMARKS", HAND_POINTS),
            ("RIGHT_HAND_LANDMARKS", HAND_POINTS),
        ),
        shoulders=(("POSE_LANDMARKS", "RIGHT_SHOULDER"), ("POSE_LANDMARKS", "LEFT_SHOULDER")),
        hidden=tuple(("POSE_LANDMARKS", p) for p in LEG_POINTS),
    ),
    # FingerCLIP (Jiang et al., EMNLP 2024): right hand only, 63 features, not normalized.
    "right_hand": KeypointLayout(components=(("RIGHT_HAND_LANDMARKS", HAND_POINTS),)),
}


def normalize_keypoints(
    points: np.ndarray, observed: np.ndarray, layout: KeypointLayout, lengths: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive clips of `lengths` frames, (N, K, 3) + (N, K) observed -> features (N, 3K) float32, valid (clips,).

    Each clip is normalized on its own as pose-format's `Pose.normalize` (called by the original, fairseq
    examples/MMPT): minus the mean shoulder midpoint, divided by the mean 3D shoulder distance, both over
    the clip's frames where both shoulders are seen (masked sums over the clip's frames, so a clip gets the
    same features alone, in a batch or as a window). Missing and hidden points are exactly 0. A clip is
    invalid when it cannot be normalized (no frame with both shoulders, shoulders that coincide) or its
    features are not finite; its rows are then not meaningful (`refuse_invalid` says why).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # work on (N, 3K) rows: broadcasting a (N, K, 1) mask over the last axis of 3 runs numpy's slow path
    keep = np.repeat(observed & layout.kept_points, 3, axis=1)
    flat = points.reshape(len(points), -1)
    if layout.shoulder_indices is None:
        features = np.where(keep, flat, np.float32(0))
        valid = np.ones(len(lengths), dtype=bool)
    else:
        count, center, distance = shoulder_statistics(points, observed, layout, starts)
        valid = (count > 0) & (distance > 0)
        shift = np.tile(center.astype(np.float32), layout.num_points)  # (clips, 3K)
        scale = (1 / np.where(valid, distance, 1)).astype(np.float32)
        if len(lengths) > 1:
            shift, scale = np.repeat(shift, lengths, axis=0), np.repeat(scale, lengths)
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite clips are made invalid just below
            features = np.where(keep, (flat - shift) * scale[:, None], np.float32(0))
    if np.isfinite(np.add.reduce(features, axis=None)):  # one cheap check: a sum is finite only if every term is
        return features, valid
    return features, valid & np.logical_and.reduceat(np.isfinite(features).all(axis=1), starts)


def shoulder_statistics(
    points: np.ndarray, observed: np.ndarray, layout: KeypointLayout, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per clip starting at `starts`: frames with both shoulders, mean shoulder midpoint (3,), mean distance (float64)."""
    right, left = layout.shoulder_indices
    both = observed[:, right] & observed[:, left]
    right_xyz, left_xyz = points[:, right].astype(np.float64), points[:, left].astype(np.float64)
    count = np.add.reduceat(both, starts)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite shoulders make the clip invalid
        midpoints = np.where(both[:, None], (right_xyz + left_xyz) / 2, 0)
        distances = np.where(both, np.sqrt(((right_xyz - left_xyz) ** 2).sum(axis=-1)), 0)
        center = np.add.reduceat(midpoints, starts) / np.maximum(count, 1)[:, None]
        distance = np.add.reduceat(distances, starts) / np.maximum(count, 1)
    return count, center, distance


def check_keypoints(points: np.ndarray, layout_name: str, name: str) -> None:
    """Raise `PoseLayoutError`/`EmptyPoseError` unless `points` are (frames > 0, K, 3) of the layout."""
    layout = KEYPOINT_LAYOUTS[layout_name]
    if points.ndim != 3 or points.shape[1:] != (layout.num_points, 3):
        raise PoseLayoutError(
            name,
            f"expected keypoints of shape (frames, {layout.num_points}, 3) for the {layout_name!r} layout, "
            f"got {tuple(points.shape)}",
        )
    if points.shape[0] == 0:
        raise EmptyPoseError(name, "the clip has zero frames")


def keypoints_to_features(
    points: np.ndarray, confidence: np.ndarray, layout_name: str = "holistic", name: str = "<array>"
) -> np.ndarray:
    """The original's preprocessing on raw keypoints: (T, K, 3) + (T, K) confidence -> (T, 3K) float32 features.

    See `normalize_keypoints`; a clip that cannot be normalized, or whose features overflow float32, is
    refused with the specific `InvalidPoseError`, so the result is always finite.
    """
    return batch_keypoints_to_features([(points, confidence, name)], layout_name)[0]


def batch_keypoints_to_features(
    clips: Sequence[tuple[np.ndarray, np.ndarray, str]], layout_name: str = "holistic"
) -> list[np.ndarray]:
    """`keypoints_to_features` for many (points, confidence, name) clips with one set of numpy calls."""
    layout = KEYPOINT_LAYOUTS[layout_name]
    for points, _, name in clips:
        check_keypoints(points, layout_name, name)
    lengths = [len(points) for points, _, _ in clips]
    if len(clips) == 1:
        points, observed = clips[0][0], clips[0][1] > 0
    else:
        points, observed = np.concatenate([p for p, _, _ in clips]), np.concatenate([c for _, c, _ in clips]) > 0
    features, valid = normalize_keypoints(points, observed, layout, lengths)
    clip_features = np.split(features, np.cumsum(lengths)[:-1])
    if not valid.all():
        index = int(np.argmin(valid))
        clip_points, _, name = clips[index]
        refuse_invalid(clip_points, clips[index][1] > 0, layout, name, clip_features[index])
    return clip_features


def refuse_invalid(
    points: np.ndarray, observed: np.ndarray, layout: KeypointLayout, name: str, features: np.ndarray
) -> NoReturn:
    """Say why a clip that `normalize_keypoints` marked invalid cannot become features."""
    if layout.shoulder_indices is not None:
        count, _, distance = shoulder_statistics(points, observed, layout, np.zeros(1, dtype=np.int64))
        if count[0] == 0:
            raise DegeneratePoseError(name, "no frame has both shoulders; shoulder normalization is impossible")
        if not distance[0] > 0:
            if np.isnan(distance[0]):
                refuse_non_finite(points, observed, name)
            raise DegeneratePoseError(name, "the shoulders coincide in every frame (shoulder distance 0)")
    refuse_non_finite(points, observed, name, features)


def refuse_non_finite(
    points: np.ndarray, observed: np.ndarray, name: str, features: np.ndarray | None = None
) -> NoReturn:
    """Say why features are not finite: NaN/inf on observed input points, or float32 overflow."""
    bad = observed & ~np.isfinite(points).all(axis=-1)
    if bad.any():
        frames = np.unique(np.nonzero(bad)[0])
        raise NonFinitePoseError(
            name, f"NaN or infinite coordinates on observed points in {len(frames)} frame(s), first frame {frames[0]}"
        )
    frame = 0 if features is None else int(np.nonzero(~np.isfinite(features).all(axis=1))[0][0])
    raise NonFinitePoseError(
        name, f"coordinates too large: the features overflow float32 (first at frame {frame}); check the file's units"
    )


def array_to_keypoints(array: np.ndarray, name: str = "<array>") -> tuple[np.ndarray, np.ndarray]:
    """A (T, K, 3) array in layout order -> (points, confidence); NaN or all-zero points count as missing."""
    array = np.asarray(array, dtype=np.float32)
    if np.isinf(array).any():
        raise NonFinitePoseError(name, "infinite coordinates in the array")
    missing = np.isnan(array).any(axis=-1) | (array == 0).all(axis=-1)
    return np.nan_to_num(array), (~missing).astype(np.float32)


LEFT_HANDED_RULES = ("right_hand_still", "left_hand_busier")


def left_handed_clips(
    features: np.ndarray, layout_name: str = "holistic", rule: str = "right_hand_still"
) -> np.ndarray:
    """(..., T, 3K) features -> (...) bool: which clips count as left-handed (mirroring them gives every clip
    the same dominant hand).

    `"right_hand_still"`: the original's test-time rule (fairseq examples/MMPT): the right hand's features never
    change (it is never seen). `"left_hand_busier"`: the left hand's features vary more over the clip than the
    right's; this also catches a left-handed signer whose resting right hand is seen, and keeps a right-handed
    clip whose right hand is merely undetected.
    """
    if rule not in LEFT_HANDED_RULES:
        raise ValueError(f"left_handed_rule must be one of {LEFT_HANDED_RULES}, got {rule!r}")
    layout = KEYPOINT_LAYOUTS[layout_name]
    layout.require_both_hands(f"left_handed_rule={rule!r}", layout_name)
    right = layout.hand_features(features, "RIGHT").var(axis=-2)
    if rule == "right_hand_still":
        return right.max(axis=-1) == 0
    return layout.hand_features(features, "LEFT").var(axis=-2).sum(axis=-1) > right.sum(axis=-1)


def mirror_features(features: np.ndarray, layout_name: str = "holistic") -> np.ndarray:
    """Mirror (..., T, 3K) features: negate x and swap left/right points (missing points stay 0)."""
    layout = KEYPOINT_LAYOUTS[layout_name]
    layout.require_both_hands("mirroring", layout_name)
    points = features.reshape(*features.shape[:-1], layout.num_points, 3)[..., layout.mirror_permutation(), :]
    points[..., 0] *= -1  # fancy indexing above made a copy
    return points.reshape(features.shape)


__all__ = [
    "KEYPOINT_LAYOUTS",
    "LEFT_HANDED_RULES",
    "CorruptPoseError",
    "DegeneratePoseError",
    "EmptyPoseError",
    "InvalidPoseError",
    "KeypointLayout",
    "NonFinitePoseError",
    "PoseLayoutError",
    "array_to_keypoints",
    "batch_keypoints_to_features",
    "keypoints_to_features",
    "left_handed_clips",
    "mirror_features",
    "normalize_keypoints",
    "refuse_non_finite",
]
