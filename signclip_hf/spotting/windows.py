"""Sliding windows over a long recording, normalized per window as the model expects, embedded in batches.

The released SignCLIP normalizes every clip by its own shoulders (pose-format `Pose.normalize` with
`pose_normalization_info`, as fairseq examples/MMPT preprocesses poses), so a window cannot reuse features normalized over the whole recording. The
shared work (reading the file, selecting the layout's keypoints) is done once per recording; each batch
of windows of one size is then gathered and normalized at once with array operations, so memory is
bounded by `batch_size × window` frames whatever the recording's length.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..modeling import (
    InvalidPoseError,
    SignCLIPFeatureExtractor,
    describe_pose_input,
    read_keypoints,
    refuse_non_finite,
)
from ..modeling.pose_io_signclip import PoseInput


MIN_FPS, MAX_FPS = 1.0, 1000.0  # a header outside this range gives absurd times (seconds, subtitles)


class RecordingTooShortError(InvalidPoseError):
    """A recording with fewer frames than the smallest window (nothing to slide over)."""


@dataclass
class Recording:
    """A recording's layout keypoints, read once: `points` (T, K, 3), `observed` (T, K) bool, `fps`."""

    name: str
    points: np.ndarray
    observed: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return len(self.points)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps


def read_recording(source: PoseInput, keypoint_layout: str = "holistic", name: str | None = None) -> Recording:
    """Read a long `.pose` (path, bytes or `pose_format.Pose`) once; errors name the file and the problem."""
    name = name or describe_pose_input(source)
    points, confidence, fps = read_keypoints(source, keypoint_layout, name)
    observed = confidence > 0
    if not np.isfinite(points[observed]).all():
        refuse_non_finite(points, observed, name)
    if not MIN_FPS <= fps <= MAX_FPS:  # also NaN
        raise InvalidPoseError(
            name,
            f"the header's frame rate is {fps} fps; times in seconds need a frame rate in [{MIN_FPS:g}, {MAX_FPS:g}]",
        )
    points[~observed] = 0  # in place (read_keypoints returns a fresh array): missing points hold no NaN
    return Recording(name, points, observed, float(fps))


def window_starts(num_frames: int, size: int, stride: int) -> np.ndarray:
    """Start frames of the windows of `size` every `stride` frames; the last window ends at the last frame."""
    if num_frames < size:
        return np.zeros(0, dtype=np.int64)
    starts = np.arange(0, num_frames - size + 1, stride, dtype=np.int64)
    return starts if starts[-1] == num_frames - size else np.append(starts, num_frames - size)


def normalize_windows(
    recording: Recording, starts: np.ndarray, size: int, feature_extractor: SignCLIPFeatureExtractor
) -> tuple[np.ndarray, np.ndarray]:
    """Features of the windows `[start, start + size)`, each normalized on its own exactly as the feature
    extractor does a clip of those frames (`SignCLIPFeatureExtractor.features_from_windows`).

    Returns (features (B, frames, 3K) float32, valid (B,) bool): a window that the feature extractor would
    refuse (no frame with both shoulders, shoulders that coincide, features overflowing float32) is invalid
    and its rows are 0.
    """
    frames = starts[:, None] + np.arange(size)  # (B, size): the windows' frames
    return feature_extractor.features_from_windows(recording.points[frames], recording.observed[frames])


@dataclass
class WindowBatch:
    """Up to `batch_size` windows of one `size`: their `starts`, `features` (B, frames, D) and `valid` mask."""

    size: int
    starts: np.ndarray
    features: np.ndarray
    valid: np.ndarray


def iter_window_batches(
    recording: Recording,
    sizes: Sequence[int],
    stride: int,
    feature_extractor: SignCLIPFeatureExtractor,
    batch_size: int = 64,
) -> Iterator[WindowBatch]:
    """Windows grouped by size (one length per batch, so no padding), `batch_size` at a time.

    Only one batch of windows exists at any time: memory does not grow with the recording's length.
    """
    for size in sizes:
        starts = window_starts(recording.num_frames, size, stride)
        for begin in range(0, len(starts), batch_size):
            chunk = starts[begin : begin + batch_size]
            features, valid = normalize_windows(recording, chunk, size, feature_extractor)
            yield WindowBatch(size, chunk, features, valid)


@functools.cache
def _malloc_trim():
    """glibc's `malloc_trim`, or None on other C libraries."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


def release_freed_memory() -> None:
    """Hand freed heap memory back to the OS after a batch.

    glibc raises its mmap threshold as large blocks are freed, so the per-batch window and activation
    buffers then come from the heap and fragment it: without this, peak RSS grew with the recording's
    length (+340 MB over 10 minutes, measured); with it, 1 and 10 minutes peak within 8% of each other.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@torch.no_grad()
def embed_batch(model, features: np.ndarray) -> torch.Tensor:
    """(B, frames, D) equal-length windows -> (B, E) pose embeddings with `model.get_pose_features`."""
    values = torch.from_numpy(np.ascontiguousarray(features)).to(next(model.parameters()).device)
    mask = torch.ones(values.shape[:2], dtype=torch.long, device=values.device)
    return model.get_pose_features(values, mask).pooler_output


def count_windows(num_frames: int, sizes: Sequence[int], stride: int) -> int:
    return sum(len(window_starts(num_frames, size, stride)) for size in sizes)


__all__ = [
    "MAX_FPS",
    "MIN_FPS",
    "Recording",
    "RecordingTooShortError",
    "WindowBatch",
    "count_windows",
    "embed_batch",
    "iter_window_batches",
    "normalize_windows",
    "read_recording",
    "window_starts",
]
