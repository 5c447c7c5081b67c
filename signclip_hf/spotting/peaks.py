"""Score curves -> time-stamped detections: local maxima per window size, then non-maximum suppression
across window sizes by temporal IoU, then a score threshold and the top k per query."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class ScoreCurve:
    """The scores of every (valid) window of one `size`: `starts` (N,) frames, `scores` (N, queries)."""

    size: int
    starts: np.ndarray
    scores: np.ndarray

    @property
    def centres(self) -> np.ndarray:
        return self.starts + self.size / 2


@dataclass
class Detection:
    """One spotted occurrence of `query`: frames `[start_frame, end_frame)`, the same in seconds, its score."""

    query: str
    start_frame: int
    end_frame: int
    start: float
    end: float
    score: float
    window: int

    def to_dict(self) -> dict:
        return asdict(self)


def temporal_iou(start: float, end: float, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """IoU of the interval [start, end) with each of [starts, ends)."""
    inter = np.clip(np.minimum(end, ends) - np.maximum(start, starts), 0, None)
    return inter / ((end - start) + (ends - starts) - inter)


def local_maxima(values: np.ndarray) -> np.ndarray:
    """Indices i with values[i] >= values[i-1] and values[i] > values[i+1] (missing neighbours ignored).

    A flat top counts once (its last sample).
    """
    values = np.asarray(values)
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    left = np.concatenate([[True], values[1:] >= values[:-1]])
    right = np.concatenate([values[:-1] > values[1:], [True]])
    return np.flatnonzero(left & right)


def non_max_suppression(
    starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, iou_threshold: float, top_k: int | None = None
) -> np.ndarray:
    """Greedy NMS: indices kept, best first; an interval whose IoU with a kept one is >= `iou_threshold` goes."""
    order = np.lexsort((starts, -scores))
    starts, ends = starts[order].astype(np.float64), ends[order].astype(np.float64)
    alive = np.ones(len(order), dtype=bool)
    kept: list[int] = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        kept.append(int(order[i]))
        if top_k is not None and len(kept) >= top_k:
            break
        alive[i + 1 :] &= temporal_iou(starts[i], ends[i], starts[i + 1 :], ends[i + 1 :]) < iou_threshold
    return np.asarray(kept, dtype=np.int64)


def find_detections(
    curves: Sequence[ScoreCurve],
    queries: Sequence[str],
    fps: float,
    top_k: int | None = 5,
    threshold: float | None = None,
    nms_iou: float = 0.3,
    local_peaks: bool = True,
) -> list[Detection]:
    """Per query: the local maxima of each window size's curve, above `threshold`, suppressed across sizes.

    With `local_peaks=False` every scored span is a candidate (given segments, not a sliding curve).
    Detections are ordered by query (as given), then by score (best first).
    """
    detections = []
    for q, query in enumerate(queries):
        starts, sizes, scores = [], [], []
        for curve in curves:
            peaks = local_maxima(curve.scores[:, q]) if local_peaks else np.arange(len(curve.starts))
            starts.append(curve.starts[peaks])
            sizes.append(np.full(len(peaks), curve.size))
            scores.append(curve.scores[peaks, q])
        starts, sizes, scores = (np.concatenate(parts) if parts else np.zeros(0) for parts in (starts, sizes, scores))
        if threshold is not None:
            above = scores >= threshold
            starts, sizes, scores = starts[above], sizes[above], scores[above]
        for i in non_max_suppression(starts, starts + sizes, scores, nms_iou, top_k):
            start, end = int(starts[i]), int(starts[i] + sizes[i])
            detections.append(Detection(query, start, end, start / fps, end / fps, float(scores[i]), int(sizes[i])))
    return detections


__all__ = ["Detection", "ScoreCurve", "find_detections", "local_maxima", "non_max_suppression", "temporal_iou"]
