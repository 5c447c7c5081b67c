"""Sign spotting: score sliding windows (or given segments) of a long recording against text queries and
turn the per-query score curves into time-stamped detections (JSON, ELAN, WebVTT/SRT, PNG)."""

from .evaluate import SpottingScores, average_precision, evaluate_spotting
from .peaks import Detection, ScoreCurve, find_detections, local_maxima, non_max_suppression, temporal_iou
from .spot import Segment, SpottingConfig, SpottingResult, make_prompts, spot
from .windows import (
    Recording,
    RecordingTooShortError,
    WindowBatch,
    iter_window_batches,
    normalize_windows,
    read_recording,
    window_starts,
)

__all__ = [
    "Detection",
    "Recording",
    "RecordingTooShortError",
    "ScoreCurve",
    "Segment",
    "SpottingConfig",
    "SpottingResult",
    "SpottingScores",
    "WindowBatch",
    "average_precision",
    "evaluate_spotting",
    "find_detections",
    "iter_window_batches",
    "local_maxima",
    "make_prompts",
    "non_max_suppression",
    "normalize_windows",
    "read_recording",
    "spot",
    "temporal_iou",
    "window_starts",
]
