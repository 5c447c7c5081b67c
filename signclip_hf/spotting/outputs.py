"""Spotting results in the formats people open: JSON, ELAN `.eaf` (one tier per query), WebVTT / SRT
subtitles, a PNG of the score curves with the detections marked; segments read from SRT / VTT / ELAN
(validated: every problem names the file and the cue); and the check that no output overwrites an input
or another output."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..extras import check, require
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


# the optional module each subtitle/annotation writer needs (the `spotting` extra): module, distribution
WRITER_MODULES = {"eaf": ("pympi.Elan", "pympi-ling"), "srt": ("srt", None), "vtt": ("webvtt", "webvtt-py")}


def check_writers(*formats: str) -> None:
    """Fail before any work when a requested output format's module is not installed."""
    for name in formats:
        module, distribution = WRITER_MODULES[name]
        check(module, "spotting", distribution)


def write_eaf(result: SpottingResult, path: str | os.PathLike, media: str | None = None) -> Path:
    """ELAN file: one tier per query named after it (overlapping detections of one query go to extra tiers
    "query (2)", ... since an ELAN tier cannot hold overlapping annotations); values are the scores."""
    Eaf = require(WRITER_MODULES["eaf"][0], "spotting", WRITER_MODULES["eaf"][1]).Eaf

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


class SegmentsWarning(UserWarning):
    """Something in a segments file was left out (e.g. an ELAN annotation on unaligned time slots)."""


MAX_SEGMENTS_BYTES = 64 << 20  # subtitles and ELAN files of a day of video are a few MB
MAX_MILLISECONDS = 2**32 - 1  # ELAN's TIME_VALUE is an xsd:unsignedInt of milliseconds (about 49 days)


def read_segments(path: str | os.PathLike, tier: str | None = None) -> list[Segment]:
    """Time spans from subtitles (`.srt`, `.vtt`) or an ELAN file (`.eaf`: every tier, or only `tier`).

    Every problem is one `ValueError` naming the file and the cue or annotation: text that is not UTF-8,
    broken XML, a time that is not a whole number of milliseconds, a reference to a missing time slot or
    annotation, a span that ends before it starts. An ELAN annotation on an unaligned time slot (a
    `TIME_SLOT` without `TIME_VALUE`, legal in ELAN) has no time of its own: it is skipped, with a
    `SegmentsWarning` saying how many were.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: segments file not found")
    suffix = path.suffix.lower()
    if suffix not in (".srt", ".vtt", ".eaf"):
        raise ValueError(f"{path}: segments must be .srt, .vtt or .eaf, got {suffix or 'no extension'!r}")
    size = path.stat().st_size
    if size > MAX_SEGMENTS_BYTES:
        raise ValueError(f"{path}: {size} bytes, more than a segments file may have ({MAX_SEGMENTS_BYTES})")
    data = path.read_bytes()
    if suffix == ".eaf":
        spans = _eaf_spans(path, data, tier)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None
        spans = _srt_spans(path, text) if suffix == ".srt" else _vtt_spans(path, text)
    segments = []
    for name, start, end, value in spans:
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0:
            raise ValueError(f"{path}: {name} has an invalid time ({start} - {end} s)")
        if end <= start:
            raise ValueError(f"{path}: {name} ends at {end:.3f} s, not after its start at {start:.3f} s")
        segments.append(Segment(start, end, value))
    if not segments:
        raise ValueError(f"{path}: no segments in the file")
    return sorted(segments, key=lambda s: (s.start, s.end))


def _srt_spans(path: Path, text: str) -> list[tuple[str, float, float, str]]:
    srt = require(WRITER_MODULES["srt"][0], "spotting")
    try:
        cues = list(srt.parse(text))
        return [
            (f"cue {c.index}", c.start.total_seconds(), c.end.total_seconds(), c.content) for c in cues
        ]
    except (srt.SRTParseError, ValueError, OverflowError) as error:
        raise ValueError(f"{path}: not a readable SRT file: {error}") from None


def _vtt_spans(path: Path, text: str) -> list[tuple[str, float, float, str]]:
    webvtt = require(WRITER_MODULES["vtt"][0], "spotting", WRITER_MODULES["vtt"][1])
    from webvtt.errors import MalformedCaptionError, MalformedFileError

    try:
        cues = list(webvtt.from_string(text))
        # start_in_seconds drops the milliseconds: parse the timestamps
        return [
            (f"cue {i} ({c.start} --> {c.end})", _vtt_seconds(c.start), _vtt_seconds(c.end), c.text)
            for i, c in enumerate(cues, start=1)
        ]
    except (MalformedFileError, MalformedCaptionError, ValueError, OverflowError) as error:
        raise ValueError(f"{path}: not a readable WebVTT file: {error}") from None


def _eaf_spans(path: Path, data: bytes, tier: str | None) -> list[tuple[str, float, float, str]]:
    """(name, start s, end s, value) of the annotations of every tier (or `tier`), after the EAF 3.0 schema:
    TIME_ORDER/TIME_SLOT (TIME_VALUE optional, whole milliseconds), ALIGNABLE_ANNOTATION on two time slots,
    REF_ANNOTATION on another annotation (it takes the span of the aligned annotation it refers to)."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise ValueError(f"{path}: not a readable ELAN file: broken XML ({error})") from None
    if root.tag != "ANNOTATION_DOCUMENT":
        raise ValueError(f"{path}: not an ELAN file: the root element is <{root.tag}>, not <ANNOTATION_DOCUMENT>")
    slots: dict[str, int | None] = {}
    for slot in root.iterfind("TIME_ORDER/TIME_SLOT"):
        slot_id, value = slot.get("TIME_SLOT_ID"), slot.get("TIME_VALUE")
        if not slot_id:
            raise ValueError(f"{path}: a TIME_SLOT has no TIME_SLOT_ID")
        if slot_id in slots:
            raise ValueError(f"{path}: time slot {slot_id!r} is defined twice")
        if value is not None:
            if not value.strip().isascii() or not value.strip().isdigit() or int(value) > MAX_MILLISECONDS:
                raise ValueError(
                    f"{path}: time slot {slot_id!r} has TIME_VALUE {value!r:.40}, not a whole number of "
                    f"milliseconds in [0, {MAX_MILLISECONDS}]"
                )
            value = int(value)
        slots[slot_id] = value  # None: an unaligned slot (legal in ELAN)
    aligned: dict[str, tuple[str, str]] = {}  # annotation id -> its two time slots
    references: dict[str, str] = {}  # reference annotation id -> the annotation it refers to
    for element in root.iterfind("TIER/ANNOTATION/*"):
        annotation = element.get("ANNOTATION_ID")
        if not annotation:
            raise ValueError(f"{path}: an {element.tag} has no ANNOTATION_ID")
        if annotation in aligned or annotation in references:
            raise ValueError(f"{path}: annotation {annotation!r} is defined twice")
        if element.tag == "ALIGNABLE_ANNOTATION":
            refs = (element.get("TIME_SLOT_REF1"), element.get("TIME_SLOT_REF2"))
            for name, ref in zip(("TIME_SLOT_REF1", "TIME_SLOT_REF2"), refs):
                if ref not in slots:
                    raise ValueError(
                        f"{path}: annotation {annotation!r}: {name} {ref!r} is not a time slot of the file"
                    )
            aligned[annotation] = refs
        elif element.tag == "REF_ANNOTATION":
            references[annotation] = element.get("ANNOTATION_REF")
        else:
            raise ValueError(f"{path}: unknown annotation element <{element.tag}> ({annotation!r})")

    def span_of(annotation: str) -> tuple[str, str]:
        seen = [annotation]
        while annotation in references:
            annotation = references[annotation]
            if annotation in seen:
                raise ValueError(f"{path}: annotation {seen[0]!r}: its references form a cycle")
            seen.append(annotation)
        if annotation not in aligned:
            raise ValueError(f"{path}: annotation {seen[-2]!r} refers to {annotation!r}, not an annotation of the file")
        return aligned[annotation]

    tiers = {}
    for element in root.iterfind("TIER"):
        name = element.get("TIER_ID")
        if not name:
            raise ValueError(f"{path}: a TIER has no TIER_ID")
        tiers[name] = element
    if tier is not None and tier not in tiers:
        raise ValueError(f"{path}: no tier {tier!r}; tiers: {', '.join(tiers)}")
    spans, unaligned = [], []
    for name in [tier] if tier is not None else list(tiers):
        for element in tiers[name].iterfind("ANNOTATION/*"):
            annotation = element.get("ANNOTATION_ID")
            first, second = (slots[ref] for ref in span_of(annotation))
            if first is None or second is None:
                unaligned.append(annotation)
                continue
            value = element.findtext("ANNOTATION_VALUE") or ""
            spans.append((f"annotation {annotation!r} (tier {name!r})", first / 1000, second / 1000, value))
    if unaligned:
        shown = ", ".join(map(repr, unaligned[:5])) + (", ..." if len(unaligned) > 5 else "")
        warnings.warn(
            f"{path}: skipped {len(unaligned)} annotation(s) on unaligned time slots (no TIME_VALUE): {shown}",
            SegmentsWarning,
            stacklevel=3,
        )
        if not spans:
            raise ValueError(f"{path}: no aligned segments: every annotation lies on unaligned time slots")
    return spans


def _vtt_seconds(timestamp: str) -> float:
    parts = timestamp.split(":")
    return sum(float(value) * 60**power for power, value in enumerate(reversed(parts)))


def check_output_paths(
    outputs: Mapping[str, str | os.PathLike | None], inputs: Mapping[str, str | os.PathLike | None]
) -> None:
    """Before any work: refuse an output that is one of the inputs (a file, or a file inside an input folder),
    the same file as another output (also through another spelling or a link), or an existing folder.

    `outputs` / `inputs` map a description (e.g. `"--srt"`, `"the recording"`) to a path (None: not given).
    """

    def same(a: str, b: str) -> bool:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))

    given_inputs = [(name, os.fspath(path)) for name, path in inputs.items() if path is not None]
    seen: list[tuple[str, str]] = []
    for name, path in outputs.items():
        if path is None:
            continue
        path = os.fspath(path)
        if os.path.isdir(path):
            raise ValueError(f"{name} {path}: is a folder; give a file path")
        for input_name, input_path in given_inputs:
            if os.path.isdir(input_path):
                inside = Path(os.path.realpath(path)).is_relative_to(os.path.realpath(input_path))
                if inside and os.path.exists(path):
                    raise ValueError(f"{name} {path}: is a file of {input_name} {input_path}; write elsewhere")
            elif same(path, input_path):
                raise ValueError(f"{name} {path}: is {input_name} {input_path}; it would be overwritten")
        for other_name, other_path in seen:
            if same(path, other_path):
                raise ValueError(f"{name} {path}: is also {other_name}; give each output its own path")
        seen.append((name, path))


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


__all__ = [
    "SegmentsWarning",
    "check_output_paths",
    "plot_scores",
    "read_segments",
    "write_eaf",
    "write_json",
    "write_srt",
    "write_vtt",
]
