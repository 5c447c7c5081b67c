"""Query-by-text sign spotting: where in a long recording is each text query signed?

Every window (several lengths, one stride) of the recording is embedded by the pose tower and scored
against the queries' prompts (`"<en> <ase> house"`) with `model.score` (the raw dot product as
released), giving per-query score curves over time; their peaks become detections. With `segments`
(subtitle cues, ELAN annotations) each given segment is scored instead of sliding windows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from ..embedding import embed_texts
from ..modeling import DegeneratePoseError, SignCLIPProcessor, format_prompt
from ..modeling.prompts_signclip import check_texts
from .peaks import MERGES, NORMALIZATIONS, Detection, ScoreCurve, find_detections
from .windows import (
    Recording,
    RecordingTooShortError,
    count_windows,
    embed_batch,
    iter_window_batches,
    normalize_windows,
    read_recording,
    release_freed_memory,
)


@dataclass
class SpottingConfig:
    """How to slide, score and pick peaks.

    Args:
        windows: window lengths in frames (each window is one clip for the pose tower).
        stride: frames between consecutive window starts.
        top_k: detections kept per query (None: all peaks that pass `threshold`).
        threshold: minimum score of a detection (the model's raw score scale), None: no minimum.
        nms_iou: a peak overlapping a better one of the same query by IoU >= this is dropped (across sizes).
        batch_size: windows per pose-tower forward (bounds memory).
        spoken_language, sign_language: the prompt tags, `"<en> <ase> {query}"`.
        normalize: `"none"` (raw scores) or `"zscore"` (each window size's curve standardized per query over
            the recording, so sizes compete on equal terms; `threshold` and detection scores are then in
            standard deviations; given segments are standardized per query over all the segments).
        merge: how peaks suppress each other across sizes: `"iou"` (IoU >= `nms_iou`) or `"overlap"`
            (intersection over the shorter span >= `nms_iou`: nested peaks of different sizes become one).
    """

    windows: tuple[int, ...] = (16, 32, 48)
    stride: int = 4
    top_k: int | None = 5
    threshold: float | None = None
    nms_iou: float = 0.3
    batch_size: int = 64
    spoken_language: str = "en"
    sign_language: str = "ase"
    normalize: str = "none"
    merge: str = "iou"

    def __post_init__(self):
        self.windows = tuple(sorted({int(w) for w in self.windows}))
        if not self.windows or self.windows[0] < 1:
            raise ValueError(f"window sizes must be positive frame counts, got {self.windows}")
        if self.stride < 1 or self.batch_size < 1:
            raise ValueError(f"stride and batch_size must be >= 1, got {self.stride} and {self.batch_size}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 (or None for all), got {self.top_k}")
        if not 0 < self.nms_iou <= 1:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou}")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {self.normalize!r}")
        if self.merge not in MERGES:
            raise ValueError(f"merge must be one of {MERGES}, got {self.merge!r}")
        if self.threshold is not None and not np.isfinite(self.threshold):
            raise ValueError(f"threshold must be a finite number, got {self.threshold}")


@dataclass
class Segment:
    """A given time span `[start, end)` in seconds (a subtitle cue, an ELAN annotation) and its text."""

    start: float
    end: float
    text: str = ""


@dataclass
class SpottingResult:
    """Detections plus everything needed to draw or re-threshold them (`curves`: one per window size)."""

    recording: str
    fps: float
    num_frames: int
    queries: list[str]
    prompts: list[str]
    curves: list[ScoreCurve]
    detections: list[Detection]
    config: SpottingConfig
    skipped_windows: int = 0
    skipped_sizes: list[int] = field(default_factory=list)
    segments: list[Segment] | None = None

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def redetect(
        self,
        top_k: int | None = 5,
        threshold: float | None = None,
        nms_iou: float = 0.3,
        normalize: str | None = None,
        merge: str | None = None,
    ) -> list[Detection]:
        """Peaks again with other settings, without re-embedding (`normalize`, `merge`: the config's by default)."""
        return find_detections(
            self.curves, self.queries, self.fps, top_k, threshold, nms_iou, self.segments is None,
            normalize or self.config.normalize, merge or self.config.merge,
        )  # fmt: skip

    def to_dict(self) -> dict:
        return {
            "recording": self.recording,
            "fps": self.fps,
            "frames": self.num_frames,
            "seconds": self.duration,
            "queries": self.queries,
            "prompts": self.prompts,
            "config": asdict(self.config),
            "windows_scored": int(sum(len(c.starts) for c in self.curves)),
            "skipped_windows": self.skipped_windows,
            "skipped_sizes": self.skipped_sizes,
            "segments": None if self.segments is None else [asdict(s) for s in self.segments],
            "detections": [d.to_dict() for d in self.detections],
        }


def make_prompts(queries: Sequence[str], spoken_language: str = "en", sign_language: str = "ase") -> list[str]:
    """`"<en> <ase> house"` for each query; no queries, blank queries and unknown tags are errors."""
    queries = check_texts(queries)  # strings of valid Unicode, named by position
    if not queries:
        raise ValueError("no queries: give at least one text to spot (e.g. 'house')")
    blank = [i for i, q in enumerate(queries) if not q.strip()]
    if blank:
        raise ValueError(f"query {blank[0]} is blank: every query needs some text")
    repeated = sorted(q for q, count in Counter(q.strip() for q in queries).items() if count > 1)
    if repeated:
        raise ValueError(f"query {repeated[0]!r} is given more than once")
    return [format_prompt(q.strip(), spoken_language, sign_language) for q in queries]


@torch.no_grad()
def spot(
    model,
    processor: SignCLIPProcessor,
    recording,
    queries: Sequence[str],
    config: SpottingConfig | None = None,
    segments: Sequence[Segment] | None = None,
    progress: bool = True,
) -> SpottingResult:
    """Spot each query in `recording` (a `.pose` path, bytes, `pose_format.Pose` or a `Recording`).

    Sliding windows of `config.windows` frames every `config.stride` frames (window sizes longer than
    the recording are skipped; a recording shorter than every window is an error), or with `segments`
    one score per given segment. Memory is bounded by `config.batch_size` windows.
    """
    config = config or SpottingConfig()
    prompts = make_prompts(queries, config.spoken_language, config.sign_language)
    names = [q.strip() for q in queries]
    feature_extractor = processor.feature_extractor
    if not isinstance(recording, Recording):
        recording = read_recording(recording, feature_extractor.keypoint_layout)
    model.eval()
    device = next(model.parameters()).device
    text_embeds = torch.from_numpy(embed_texts(model, processor, prompts)).to(device)
    if segments is not None:
        curves, skipped = _score_segments(model, feature_extractor, recording, segments, text_embeds, config)
        skipped_sizes = []
    else:
        curves, skipped, skipped_sizes = _score_windows(
            model, feature_extractor, recording, text_embeds, config, progress
        )
    return SpottingResult(
        recording=recording.name,
        fps=recording.fps,
        num_frames=recording.num_frames,
        queries=names,
        prompts=prompts,
        curves=curves,
        detections=find_detections(
            curves,
            names,
            recording.fps,
            config.top_k,
            config.threshold,
            config.nms_iou,
            local_peaks=segments is None,
            normalize=config.normalize,
            merge=config.merge,
        ),
        config=config,
        skipped_windows=skipped,
        skipped_sizes=skipped_sizes,
        segments=None if segments is None else list(segments),
    )


def _score_windows(model, feature_extractor, recording: Recording, text_embeds, config: SpottingConfig, progress: bool):
    sizes = [s for s in config.windows if s <= recording.num_frames]
    if not sizes:
        raise RecordingTooShortError(
            recording.name,
            f"the recording has {recording.num_frames} frame(s), fewer than the smallest window "
            f"({config.windows[0]} frames): use smaller window sizes",
        )
    starts = {size: [] for size in sizes}
    scores = {size: [] for size in sizes}
    skipped = 0
    total = count_windows(recording.num_frames, sizes, config.stride)
    with tqdm(total=total, desc="scoring windows", unit="window", disable=not progress) as bar:
        for batch in iter_window_batches(recording, sizes, config.stride, feature_extractor, config.batch_size):
            bar.update(len(batch.starts))
            if not batch.valid.any():
                skipped += len(batch.starts)
                continue
            features = batch.features[batch.valid]
            batch_scores = model.score(embed_batch(model, features), text_embeds).float().cpu().numpy()
            starts[batch.size].append(batch.starts[batch.valid])
            scores[batch.size].append(batch_scores)
            skipped += int((~batch.valid).sum())
            release_freed_memory()
    curves = [
        ScoreCurve(size, np.concatenate(starts[size]), np.concatenate(scores[size])) for size in sizes if starts[size]
    ]
    if not curves:
        raise DegeneratePoseError(recording.name, "no window has a frame where both shoulders are seen")
    return curves, skipped, [s for s in config.windows if s not in sizes]


def _score_segments(model, feature_extractor, recording: Recording, segments: Sequence[Segment], text_embeds, config):
    """One score per segment, cut from the recording and featurized by the feature extractor's batched path (as
    the sliding windows); segments that cannot be normalized (no frame with both shoulders) are skipped (counted)."""
    if not segments:
        raise ValueError(f"{recording.name}: no segments given")
    spans = []
    for segment in segments:
        start = max(0, round(segment.start * recording.fps))
        end = min(recording.num_frames, round(segment.end * recording.fps))
        if end <= start:
            raise ValueError(
                f"{recording.name}: segment {segment.start:.3f}-{segment.end:.3f} s lies outside the recording "
                f"({recording.duration:.3f} s) or is empty"
            )
        spans.append((start, end))
    curves, skipped = [], 0
    # one curve per distinct length keeps segments of one length in one batch, like the sliding windows
    for length in sorted({end - start for start, end in spans}):
        chosen = [start for start, end in spans if end - start == length]
        starts, rows = [], []
        for begin in range(0, len(chosen), config.batch_size):
            chunk = np.asarray(chosen[begin : begin + config.batch_size], dtype=np.int64)
            features, valid = normalize_windows(recording, chunk, length, feature_extractor)
            skipped += int((~valid).sum())
            if valid.any():
                starts.extend(chunk[valid].tolist())
                rows.append(model.score(embed_batch(model, features[valid]), text_embeds).float().cpu().numpy())
        if rows:
            curves.append(ScoreCurve(length, np.asarray(starts, dtype=np.int64), np.concatenate(rows)))
    if not curves:
        raise DegeneratePoseError(recording.name, "no segment has a frame where both shoulders are seen")
    return curves, skipped


__all__ = ["Segment", "SpottingConfig", "SpottingResult", "make_prompts", "spot"]
