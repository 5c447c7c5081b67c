"""Pose preprocessing for SignCLIP: pose clips -> padded `pose_values` and `pose_attention_mask`.

As the released SignCLIP (Jiang et al., EMNLP 2024; fairseq examples/MMPT) preprocesses MediaPipe Holistic poses:
each clip is read (`pose_io_signclip.py`), becomes (frames, 3 × keypoints) float32 features
(`keypoints_signclip.py`: layout keypoints, shoulder normalization, mirroring), is fitted to `max_frames`
and padded into a batch.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin

from .keypoints_signclip import (
    KEYPOINT_LAYOUTS,
    LEFT_HANDED_RULES,
    array_to_keypoints,
    batch_keypoints_to_features,
    left_handed_clips,
    mirror_features,
    normalize_keypoints,
)
from .pose_io_signclip import PoseInput, describe_pose_input, read_keypoints

LONG_CLIP_POLICIES = ("subsample", "truncate")


def select_frame_indices(num_frames: int, max_frames: int, policy: str) -> np.ndarray:
    """Frame indices kept from a clip of `num_frames` so that at most `max_frames` remain.

    The released model refuses clips longer than 256 frames, and so does `SignCLIPModel`; the feature extractor
    fits them instead (the one home of this policy). `"subsample"` keeps
    `max_frames` frames spread uniformly over the whole clip (the sign stays complete, it just looks
    faster), `"truncate"` keeps the first `max_frames` frames (original speed, the end is lost).
    """
    if policy not in LONG_CLIP_POLICIES:
        raise ValueError(f"long_clip_policy must be one of {LONG_CLIP_POLICIES}, got {policy!r}")
    if num_frames <= max_frames:
        return np.arange(num_frames)
    if policy == "truncate":
        return np.arange(max_frames)
    return np.round(np.linspace(0, num_frames - 1, max_frames)).astype(np.int64)


# what `save_pretrained` writes beside the settings (and `from_pretrained` hands back)
SAVED_METADATA_KEYS = frozenset({"feature_extractor_type", "processor_class", "auto_map"})


class SignCLIPFeatureExtractor(FeatureExtractionMixin):
    r"""Turns pose clips into `pose_values` (batch, frames, features) and `pose_attention_mask`.

    Owns every preprocessing setting (the model config only fixes where [SEP] sits).

    Args:
        keypoint_layout: a key of `KEYPOINT_LAYOUTS` ("holistic": 203 points / 609 features, as released).
        max_frames: longest clip the model sees; longer clips follow `long_clip_policy`.
        long_clip_policy: "subsample" (default: uniform over the whole clip) or "truncate".
        padding: "longest" (pad to the longest clip in the batch) or "max_length" (pad to `max_frames`,
            the original's scheme; same results, more compute).
        mirror_left_handed: the original's test-time option: mirror a left-handed clip (`left_handed_rule`);
            only for layouts with both hands (refused at construction otherwise).
        left_handed_rule: which clips are left-handed (`left_handed_clips`): `"right_hand_still"` (the
            original's) or `"left_hand_busier"`.
    """

    model_input_names = ["pose_values", "pose_attention_mask"]

    def __init__(
        self,
        keypoint_layout: str = "holistic",
        max_frames: int = 256,
        long_clip_policy: str = "subsample",
        padding: str = "longest",
        mirror_left_handed: bool = False,
        left_handed_rule: str = "right_hand_still",
        **kwargs,
    ):
        unknown = sorted(set(kwargs) - SAVED_METADATA_KEYS)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments {unknown}")
        super().__init__(**kwargs)
        if keypoint_layout not in KEYPOINT_LAYOUTS:
            raise ValueError(f"keypoint_layout must be one of {sorted(KEYPOINT_LAYOUTS)}, got {keypoint_layout!r}")
        if long_clip_policy not in LONG_CLIP_POLICIES:
            raise ValueError(f"long_clip_policy must be one of {LONG_CLIP_POLICIES}, got {long_clip_policy!r}")
        if padding not in ("longest", "max_length"):
            raise ValueError(f"padding must be 'longest' or 'max_length', got {padding!r}")
        if left_handed_rule not in LEFT_HANDED_RULES:
            raise ValueError(f"left_handed_rule must be one of {LEFT_HANDED_RULES}, got {left_handed_rule!r}")
        if mirror_left_handed:
            KEYPOINT_LAYOUTS[keypoint_layout].require_both_hands(
                f"mirror_left_handed=True (left_handed_rule={left_handed_rule!r})", keypoint_layout
            )
        self.keypoint_layout = keypoint_layout
        self.max_frames = max_frames
        self.long_clip_policy = long_clip_policy
        self.padding = padding
        self.mirror_left_handed = mirror_left_handed
        self.left_handed_rule = left_handed_rule

    @property
    def feature_dim(self) -> int:
        return KEYPOINT_LAYOUTS[self.keypoint_layout].feature_dim

    def check_model_config(self, config) -> None:
        """Refuse a model (`SignCLIPConfig`) whose pose tower does not match these settings: other features per
        frame, or fewer positions than `max_frames` (the model refuses longer inputs)."""
        pose_config = config.pose_config
        if pose_config.input_dim != self.feature_dim:
            raise ValueError(
                f"the model's pose tower takes {pose_config.input_dim} features per frame but the feature extractor's "
                f"{self.keypoint_layout!r} layout gives {self.feature_dim}: save the model with its own processor"
            )
        if self.max_frames > pose_config.max_frames:
            raise ValueError(
                f"the feature extractor keeps up to max_frames={self.max_frames} frames but the model has positions "
                f"for {pose_config.max_frames}: give both the same max_frames"
            )

    def extract(self, pose: PoseInput, name: str | None = None) -> np.ndarray:
        """One clip -> (frames, features), before the long-clip policy."""
        return self.features_from_keypoints(*self.keypoints(pose, name))

    def keypoints(self, pose: PoseInput, name: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
        """One input (pose file, bytes, `Pose`, array or video) -> (points, confidence, name) of the layout."""
        from .video_signclip import describe_video, is_video, video_pose_source  # sibling that imports this one

        if is_video(pose):  # a video path, container bytes or (frames, H, W, 3) uint8 frames -> its cached pose
            name = name or describe_video(pose)
            pose = video_pose_source(pose, name)
        name = name or describe_pose_input(pose)
        if isinstance(pose, np.ndarray):
            return (*array_to_keypoints(pose, name), name)
        points, confidence, _ = read_keypoints(pose, self.keypoint_layout, name)
        return points, confidence, name

    def features_from_keypoints(self, points: np.ndarray, confidence: np.ndarray, name: str = "<array>") -> np.ndarray:
        """Raw keypoints (as stored in a dataset) -> (frames, features), with the test-time mirror option."""
        return self.features_from_keypoints_batch([(points, confidence, name)])[0]

    def features_from_keypoints_batch(self, clips: Sequence[tuple[np.ndarray, np.ndarray, str]]) -> list[np.ndarray]:
        """The one batched keypoints -> features path: (points (T_i, K, 3), confidence (T_i, K), name) clips ->
        [(T_i, features)], normalized with one set of numpy calls, left-handed clips mirrored when
        `mirror_left_handed` is set; before the long-clip policy (`pad` applies it). A clip that cannot be
        normalized is refused, naming it (`InvalidPoseError`)."""
        return [self.mirror_if_left_handed(clip) for clip in batch_keypoints_to_features(clips, self.keypoint_layout)]

    def features_from_windows(self, points: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """B equal-length clips, (B, T, K, 3) points + (B, T, K) observed -> (features (B, frames, D) float32,
        valid (B,) bool): the same normalization, mirroring and long-clip policy as `__call__` for each clip, but
        a clip that `__call__` would refuse (no frame with both shoulders, features overflowing) is marked
        invalid, its rows 0, instead of raising (a sliding window inside a pause is not an error)."""
        batch, frames = points.shape[:2]
        layout = KEYPOINT_LAYOUTS[self.keypoint_layout]
        features, valid = normalize_keypoints(
            points.reshape(batch * frames, *points.shape[2:]),
            observed.reshape(batch * frames, -1),
            layout,
            np.full(batch, frames),
        )
        features = features.reshape(batch, frames, layout.feature_dim)
        features[~valid] = 0
        return self.fit_length(self.mirror_if_left_handed(features)), valid

    def mirror_if_left_handed(self, features: np.ndarray) -> np.ndarray:
        """(..., frames, features), each left-handed clip mirrored when `mirror_left_handed` is set."""
        if not self.mirror_left_handed:
            return features
        left_handed = left_handed_clips(features, self.keypoint_layout, self.left_handed_rule)
        if features.ndim == 2:
            return mirror_features(features, self.keypoint_layout) if left_handed else features
        if left_handed.any():
            features = features.copy()
            features[left_handed] = mirror_features(features[left_handed], self.keypoint_layout)
        return features

    def fit_length(self, features: np.ndarray) -> np.ndarray:
        """(..., frames, features) with at most `max_frames` frames, chosen by `long_clip_policy`."""
        if features.shape[-2] <= self.max_frames:
            return features
        return features[..., select_frame_indices(features.shape[-2], self.max_frames, self.long_clip_policy), :]

    def pad(self, clips: Sequence[np.ndarray], return_tensors: str | None = None) -> BatchFeature:
        """Stack (T_i, D) clips into `pose_values` (B, T, D) and `pose_attention_mask` (B, T)."""
        clips = [self.fit_length(np.asarray(c, dtype=np.float32)) for c in clips]
        lengths = np.array([len(c) for c in clips])
        width = self.max_frames if self.padding == "max_length" else int(lengths.max())
        values = np.zeros((len(clips), width, clips[0].shape[-1]), dtype=np.float32)
        for row, clip in enumerate(clips):  # one contiguous copy per clip (a boolean-mask scatter is 3x slower)
            values[row, : len(clip)] = clip
        mask = np.arange(width)[None, :] < lengths[:, None]
        return BatchFeature(
            {"pose_values": values, "pose_attention_mask": mask.astype(np.int64)}, tensor_type=return_tensors
        )

    def __call__(self, poses: PoseInput | Sequence[PoseInput], return_tensors: str | None = None) -> BatchFeature:
        if not isinstance(poses, (list, tuple)):
            poses = [poses]
        if len(poses) == 0:
            raise ValueError("no poses given")
        clips = self.features_from_keypoints_batch([self.keypoints(pose) for pose in poses])
        return self.pad(clips, return_tensors=return_tensors)


__all__ = ["LONG_CLIP_POLICIES", "SignCLIPFeatureExtractor", "select_frame_indices"]
