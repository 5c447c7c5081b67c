"""Spotting results in the formats people open: JSON, ELAN `.eaf` (one tier per query), WebVTT / SRT
subtitles, a PNG of the score curves with the detections marked; and segments read from SRT / VTT / ELAN."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..extras import require
from ..plotting import pyplot, save_png
from .peaks import Detection
from .spot import Segment, SpottingResult


def write_json(result: SpottingResult, path: str | os.PathLike) -> Path:
    return _write_text(path, json.dumps(result.to_dict(), indent=2))


def _lanes(detections: Sequence[Detection]) -> list[list[Detection]]:
    """Detections packed into as few lanes as needed so that none overlaps another in its lane."""
    lanes: list[list[Detection]] = []
    for detection in sorted(detections, key=lambda d: (d.start_frame, d.end_frame)):
        lane = next((lane for lane in lanes if lane[-1].end_frame <= detection.start_frame), None)
        if lane is None:
            lanes.append(lane := [])
        lane.append(detection)
    return lanes


def write_eaf(result: SpottingResult, path: str | os.PathLike, media: str | None = None) -> Path:
    """ELAN file: one tier per query named after it (overlapping detections of one query go to extra tiers
    "query (2)", ... since an ELAN tier cannot hold overlapping annotations); values are the scores."""
    Eaf = require("pympi.Elan", "spotting", "pympi-ling").Eaf

    eaf = Eaf(author="signclip-hf spot")
    eaf.remove_tier("default")
    if media:
        eaf.add_linked_file(os.path.abspath(media))
    for query in result.queries:
        lanes = _lanes([d for d in result.detections if d.query == query]) or [[]]
        for number, lane in enumerate(lanes, start=1):
            tier = query if number == 1 else f"{query} ({number})"
            eaf.add_tier(tier)
            for detection in lane:
                start, end = round(detection.start * 1000), round(detection.end * 1000)
                eaf.add_annotation(tier, start, max(end, start + 1), f"{detection.score:.4f}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    eaf.to_file(str(path))
    return path


def _timestamp(seconds: float, separator: str) -> str:
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    secs, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{milliseconds:03d}"


def _cues(result: SpottingResult) -> list[tuple[float, float, str]]:
    ordered = sorted(result.detections, key=lambda d: (d.start, d.end, -d.score))
    return [(d.start, max(d.end, d.start + 0.001), f"{d.query} ({d.score:.3f})") for d in ordered]


def write_srt(result: SpottingResult, path: str | os.PathLike) -> Path:
    """SubRip subtitles: one numbered cue per detection, `query (score)`, in time order."""
    blocks = [
        f"{i}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n"
        for i, (start, end, text) in enumerate(_cues(result), start=1)
    ]
    return _write_text(path, "\n".join(blocks))


def write_vtt(result: SpottingResult, path: str | os.PathLike) -> Path:
    """WebVTT subtitles: one cue per detection, `query (score)`, in time order."""
    blocks = [f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n" for start, end, text in _cues(result)]
    return _write_text(path, "WEBVTT\n\n" + "\n".join(blocks))


def _write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def read_segments(path: str | os.PathLike, tier: str | None = None) -> list[Segment]:
    """Time spans from subtitles (`.srt`, `.vtt`) or an ELAN file (`.eaf`: every tier, or only `tier`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: segments file not found")
    suffix = path.suffix.lower()
    if suffix == ".srt":
        srt = require("srt", "spotting")
        try:
            cues = list(srt.parse(path.read_text(encoding="utf-8-sig")))
        except srt.SRTParseError as error:
            raise ValueError(f"{path}: not a readable SRT file: {error}") from None
        segments = [Segment(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in cues]
    elif suffix == ".vtt":
        webvtt = require("webvtt", "spotting", "webvtt-py")
        from webvtt.errors import MalformedCaptionError, MalformedFileError

        try:
            cues = list(webvtt.read(str(path)))
        except (MalformedFileError, MalformedCaptionError) as error:
            raise ValueError(f"{path}: not a readable WebVTT file: {error}") from None
        # start_in_seconds drops the milliseconds: parse the timestamps
        segments = [Segment(_vtt_seconds(c.start), _vtt_seconds(c.end), c.text) for c in cues]
    elif suffix == ".eaf":
        from xml.etree.ElementTree import ParseError

        Eaf = require("pympi.Elan", "spotting", "pympi-ling").Eaf
        try:
            eaf = Eaf(str(path))
        except ParseError as error:
            raise ValueError(f"{path}: not a readable ELAN file: {error}") from None
        names = list(eaf.get_tier_names())
        if tier is not None and tier not in names:
            raise ValueError(f"{path}: no tier {tier!r}; tiers: {', '.join(names)}")
        segments = [
            Segment(a[0] / 1000, a[1] / 1000, a[2])
            for name in ([tier] if tier is not None else names)
            for a in eaf.get_annotation_data_for_tier(name)
        ]
    else:
        raise ValueError(f"{path}: segments must be .srt, .vtt or .eaf, got {suffix or 'no extension'!r}")
    if not segments:
        raise ValueError(f"{path}: no segments in the file")
    return sorted(segments, key=lambda s: (s.start, s.end))


def _vtt_seconds(timestamp: str) -> float:
    parts = timestamp.split(":")
    return sum(float(value) * 60**power for power, value in enumerate(reversed(parts)))


def plot_scores(
    result: SpottingResult, path: str | os.PathLike, max_queries: int = 6, truth: Sequence[Mapping] | None = None
) -> Path:
    """Score over time (window centres, seconds), one panel per query and one line per window size, the
    detections shaded. With many queries, the `max_queries` with the best detections are drawn. `truth`
    (dicts with `gloss`, `start`, `end` in seconds, as `synthetic.make_recording` writes) adds the true
    signs of each query as green bars under its curve."""
    plt = pyplot()
    best = {q: max((d.score for d in result.detections if d.query == q), default=-np.inf) for q in result.queries}
    shown = sorted(result.queries, key=lambda q: -best[q])[:max_queries]
    shown = [q for q in result.queries if q in shown]
    figure, axes = plt.subplots(len(shown), 1, figsize=(12, 2.2 * len(shown) + 0.6), sharex=True, squeeze=False)
    for axis, query in zip(axes[:, 0], shown):
        q = result.queries.index(query)
        for curve in result.curves:
            order = np.argsort(curve.starts, kind="stable")
            label = f"{curve.size} frames" if result.segments is None else None
            style = "-" if result.segments is None else "o"
            axis.plot(curve.centres[order] / result.fps, curve.scores[order, q], style, lw=1, ms=3, label=label)
        for detection in (d for d in result.detections if d.query == query):
            axis.axvspan(detection.start, detection.end, color="tab:red", alpha=0.2)
            axis.annotate(
                f"{detection.score:.2f}", ((detection.start + detection.end) / 2, detection.score),
                ha="center", va="bottom", fontsize=7, color="tab:red",
            )  # fmt: skip
        for sign in (t for t in truth or () if t["gloss"] == query):
            axis.axvspan(sign["start"], sign["end"], ymax=0.06, color="tab:green")
        axis.set_ylabel("score")
        axis.set_title(f"{query!r}", loc="left", fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    axes[-1, 0].set_xlim(0, result.duration)
    if result.segments is None:
        axes[0, 0].legend(loc="upper right", fontsize=7, title="window", title_fontsize=7)
    hidden = len(result.queries) - len(shown)
    figure.suptitle(
        f"{Path(result.recording).name}: detections shaded"
        + (", true signs in green" if truth else "")
        + (f" ({hidden} more queries not drawn)" if hidden else ""),
        fontsize=10,
    )
    return save_png(figure, path)


__all__ = ["plot_scores", "read_segments", "write_eaf", "write_json", "write_srt", "write_vtt"]
