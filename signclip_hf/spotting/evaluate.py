"""Spotting against known answers: detections matched to true signs of the same gloss by temporal IoU.

Greedy matching, best detection first (as in temporal action localization, e.g. ActivityNet mAP@IoU):
a detection is a hit if it overlaps a not-yet-matched true occurrence of its query with IoU >= `iou`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .peaks import Detection, temporal_iou


@dataclass
class SpottingScores:
    """Precision / recall at an IoU, mean average precision over queries, and the hits' time errors (s).

    `boundary_error`: mean |start error| and |end error| of the hits; `centre_error`: mean |centre error|
    (None without hits).
    """

    iou: float
    detections: int
    true_signs: int
    hits: int
    precision: float
    recall: float
    mean_average_precision: float
    boundary_error: float | None
    centre_error: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def _match(detections: Sequence[Detection], truth: Sequence[Mapping], iou: float):
    """(hit flags in score order, scores in score order, (start, end) errors of the hits) for one query."""
    ordered = sorted(detections, key=lambda d: -d.score)
    starts = np.array([t["start"] for t in truth], dtype=np.float64)
    ends = np.array([t["end"] for t in truth], dtype=np.float64)
    free = np.ones(len(truth), dtype=bool)
    hits, errors = [], []
    for detection in ordered:
        overlap = temporal_iou(detection.start, detection.end, starts, ends) if len(truth) else np.zeros(0)
        overlap[~free] = -1
        best = int(np.argmax(overlap)) if len(truth) else -1
        hit = best >= 0 and overlap[best] >= iou
        if hit:
            free[best] = False
            errors.append((detection.start - starts[best], detection.end - ends[best]))
        hits.append(hit)
    return np.array(hits, dtype=bool), np.array([d.score for d in ordered]), errors


def average_precision(hits: np.ndarray, num_true: int) -> float:
    """Area under the interpolated precision-recall curve of ranked hits (VOC / ActivityNet style)."""
    if num_true == 0 or len(hits) == 0:
        return 0.0
    true_positives = np.cumsum(hits)
    precision = true_positives / np.arange(1, len(hits) + 1)
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float((precision * hits).sum() / num_true)


def evaluate_spotting(
    detections: Sequence[Detection], truth: Sequence[Mapping], queries: Sequence[str], iou: float = 0.5
) -> SpottingScores:
    """Score `detections` of `queries` against `truth` (dicts with `gloss`, `start`, `end` in seconds).

    Signs of glosses that are not among the queries are ignored.
    """
    all_hits, average_precisions, errors = [], [], []
    true_signs = 0
    for query in queries:
        mine = [t for t in truth if t["gloss"] == query]
        hits, _, query_errors = _match([d for d in detections if d.query == query], mine, iou)
        true_signs += len(mine)
        all_hits.append(hits)
        errors += query_errors
        if mine:
            average_precisions.append(average_precision(hits, len(mine)))
    hits = np.concatenate(all_hits) if all_hits else np.zeros(0, dtype=bool)
    errors = np.array(errors, dtype=np.float64).reshape(-1, 2)  # signed (start, end) errors of the hits
    return SpottingScores(
        iou=iou,
        detections=len(hits),
        true_signs=true_signs,
        hits=int(hits.sum()),
        precision=float(hits.mean()) if len(hits) else 0.0,
        recall=float(hits.sum() / true_signs) if true_signs else 0.0,
        mean_average_precision=float(np.mean(average_precisions)) if average_precisions else 0.0,
        boundary_error=float(np.abs(errors).mean()) if len(errors) else None,
        centre_error=float(np.abs(errors.mean(axis=1)).mean()) if len(errors) else None,
    )


__all__ = ["SpottingScores", "average_precision", "evaluate_spotting"]
