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


def temporal_overlap(start: float, end: float, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Intersection of [start, end) with each [starts, ends) over the shorter of the two: 1 when one lies inside
    the other, whatever their lengths."""
    inter = np.clip(np.minimum(end, ends) - np.maximum(start, starts), 0, None)
    return inter / np.minimum(end - start, ends - starts)


NORMALIZATIONS = ("none", "zscore")
OVERLAPS = {"iou": temporal_iou, "overlap": temporal_overlap}  # how `non_max_suppression` measures overlap
MERGES = tuple(OVERLAPS)


def normalize_curves(curves: Sequence[ScoreCurve], method: str = "none", pooled: bool = False) -> list[ScoreCurve]:
    """Scores made comparable across window sizes: `"zscore"` standardizes each (window size, query) curve
    over the recording's windows (mean 0, std 1), so that the typical score level of a size (short windows
    score differently from long ones) no longer decides which size wins; `"none"` keeps the raw scores.
    `pooled=True` (given segments: few spans of each length) standardizes each query over all curves together."""
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {method!r}")
    if method == "none" or not curves:
        return list(curves)
    everything = np.concatenate([c.scores for c in curves]).astype(np.float64) if pooled else None
    normalized = []
    for curve in curves:
        scores = np.asarray(curve.scores, dtype=np.float64)
        reference = everything if pooled else scores
        spread = reference.std(axis=0) if len(reference) > 1 else np.ones(reference.shape[1:])
        spread = np.where(spread > 1e-12, spread, 1.0)  # a flat curve stays flat (at 0)
        normalized.append(ScoreCurve(curve.size, curve.starts, (scores - reference.mean(axis=0)) / spread))
    return normalized


def non_max_suppression(
    starts: np.ndarray,
    ends: np.ndarray,
    scores: np.ndarray,
    iou_threshold: float,
    top_k: int | None = None,
    measure: str = "iou",
) -> np.ndarray:
    """Greedy NMS: indices kept, best first; an interval whose overlap with a kept one is >= `iou_threshold`
    goes. `measure="iou"`: intersection over union; `"overlap"`: intersection over the shorter interval, so a
    short window inside a kept long one (or a long one around a kept short one) is merged into it whatever
    their sizes (a cluster of overlapping peaks of different sizes gives one detection)."""
    if measure not in MERGES:
        raise ValueError(f"merge must be one of {MERGES}, got {measure!r}")
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
        alive[i + 1 :] &= OVERLAPS[measure](starts[i], ends[i], starts[i + 1 :], ends[i + 1 :]) < iou_threshold
    return np.asarray(kept, dtype=np.int64)


def find_detections(
    curves: Sequence[ScoreCurve],
    queries: Sequence[str],
    fps: float,
    top_k: int | None = 5,
    threshold: float | None = None,
    nms_iou: float = 0.3,
    local_peaks: bool = True,
    normalize: str = "none",
    merge: str = "iou",
) -> list[Detection]:
    """Per query: the local maxima of each window size's curve (scores normalized by `normalize_curves`),
    above `threshold` (on the normalized scale), suppressed across sizes (`non_max_suppression`, `merge`).

    With `local_peaks=False` every scored span is a candidate (given segments, not a sliding curve).
    Detections are ordered by query (as given), then by score (best first).
    """
    curves = normalize_curves(curves, normalize, pooled=not local_peaks)
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
        for i in non_max_suppression(starts, starts + sizes, scores, nms_iou, top_k, merge):
            start, end = int(starts[i]), int(starts[i] + sizes[i])
            detections.append(Detection(query, start, end, start / fps, end / fps, float(scores[i]), int(sizes[i])))
    return detections


__all__ = [
    "MERGES",
    "NORMALIZATIONS",
    "Detection",
    "ScoreCurve",
    "find_detections",
    "local_maxima",
    "non_max_suppression",
    "normalize_curves",
    "temporal_iou",
    "temporal_overlap",
]
