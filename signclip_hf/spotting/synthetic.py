"""Long recordings with known answers: real isolated clips of one signer joined by pauses and transitions.

`make_recording` picks clips of different glosses from a `.pose` folder with a `metadata.csv`
(`file,label,signer`, as for `build-dataset`), joins them with pauses of missing frames (the person
out of view) or of the last frame held still, and optionally with *transitions*: the pose moving in a
straight line (per keypoint, linear interpolation) from the last frame of one clip to the first frame of
the next, as the hands travel between signs in continuous signing. It writes a real `.pose` file plus a
ground-truth JSON of where each sign starts and ends (pauses and transitions are not part of any sign).
Use it to measure spotting on your own model and data:

    signclip-hf synthesize-recording DATA_DIR --signer signer12 --signs 12 --transition-frames 4,10 --output rec.pose
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..modeling import load_pose

PAUSES = ("missing", "still")


@dataclass
class PlacedSign:
    """One clip in the recording: its gloss, frames `[start_frame, end_frame)`, seconds, and source file."""

    gloss: str
    start_frame: int
    end_frame: int
    start: float
    end: float
    source: str


def concatenate_clips(
    files: Sequence[str | os.PathLike],
    glosses: Sequence[str],
    pause_frames: tuple[int, int] = (5, 15),
    pause: str = "missing",
    seed: int = 0,
    transition_frames: tuple[int, int] = (0, 0),
):
    """Join clips (one layout, one frame rate) into one `pose_format.Pose` with a pause before each clip
    and after the last; between two clips, before the pause, a transition of `transition_frames` (MIN, MAX;
    drawn per gap) frames interpolated linearly from the last frame of one clip to the first frame of the
    next (`interpolate_transition`). Returns (pose, placed signs); a sign's span is its clip's frames only."""
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody

    if pause not in PAUSES:
        raise ValueError(f"pause must be one of {PAUSES}, got {pause!r}")
    if not files or len(files) != len(glosses):
        raise ValueError("give one gloss per clip, and at least one clip")
    for name, (low, high) in (("pause_frames", pause_frames), ("transition_frames", transition_frames)):
        if not 0 <= low <= high:
            raise ValueError(f"{name} must be (MIN, MAX) frame counts with 0 <= MIN <= MAX, got {(low, high)}")
    rng = np.random.default_rng(seed)
    poses = [load_pose(os.fspath(f), os.fspath(f)) for f in files]
    header, fps = poses[0].header, float(poses[0].body.fps)
    layout = [(c.name, tuple(c.points)) for c in header.components]
    data, confidence, placed, frame = [], [], [], 0
    for index, (file, gloss, pose) in enumerate(zip(files, glosses, poses)):
        if [(c.name, tuple(c.points)) for c in pose.header.components] != layout or float(pose.body.fps) != fps:
            raise ValueError(f"{file}: its keypoint layout or frame rate ({pose.body.fps}) differs from {files[0]}'s")
        clip = np.asarray(pose.body.data.data if np.ma.isMaskedArray(pose.body.data) else pose.body.data)[:, :1]
        clip_confidence = np.asarray(pose.body.confidence)[:, :1]
        gap = int(rng.integers(pause_frames[0], pause_frames[1] + 1))
        if index and transition_frames[1] > 0:  # the hands travel from the last sign's end to this one's start
            moving = int(rng.integers(transition_frames[0], transition_frames[1] + 1))
            points, observed = interpolate_transition(previous, previous_confidence, clip[0], clip_confidence[0], moving)
            data.append(points)
            confidence.append(observed)
            frame += moving
        _append_pause(data, confidence, gap, pause, clip[:1], clip_confidence[:1])
        frame += gap
        data.append(clip)
        confidence.append(clip_confidence)
        placed.append(
            PlacedSign(gloss, frame, frame + len(clip), frame / fps, (frame + len(clip)) / fps, os.fspath(file))
        )
        frame += len(clip)
        previous, previous_confidence = clip[-1], clip_confidence[-1]
    _append_pause(
        data,
        confidence,
        int(rng.integers(pause_frames[0], pause_frames[1] + 1)),
        pause,
        data[-1][-1:],
        confidence[-1][-1:],
    )
    body = NumPyPoseBody(fps, np.concatenate(data).astype(np.float32), np.concatenate(confidence).astype(np.float32))
    return Pose(header, body), placed


def interpolate_transition(
    start: np.ndarray, start_confidence: np.ndarray, end: np.ndarray, end_confidence: np.ndarray, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """`frames` poses moving linearly from the pose `start` (people, K, dims) to `end`, both ends excluded:
    frame i of n is start + (i + 1) / (n + 1) * (end - start). A keypoint missing (confidence 0) at either
    end is missing throughout; the others take the smaller of their two confidences.
    Returns (points (frames, people, K, dims), confidence (frames, people, K))."""
    weights = (np.arange(1, frames + 1, dtype=np.float32) / (frames + 1))[:, None, None, None]
    start, end = np.asarray(start, dtype=np.float32), np.asarray(end, dtype=np.float32)
    seen = (np.asarray(start_confidence) > 0) & (np.asarray(end_confidence) > 0)
    points = (start + weights * (end - start)) * seen[None, ..., None]
    confidence = np.repeat(np.minimum(start_confidence, end_confidence)[None] * seen[None], frames, axis=0)
    return points.astype(np.float32), confidence.astype(np.float32)


def _append_pause(
    data: list, confidence: list, frames: int, pause: str, still: np.ndarray, still_confidence: np.ndarray
):
    if frames <= 0:
        return
    if pause == "still":
        data.append(np.repeat(still, frames, axis=0))
        confidence.append(np.repeat(still_confidence, frames, axis=0))
    else:
        data.append(np.zeros((frames, *still.shape[1:]), dtype=np.float32))
        confidence.append(np.zeros((frames, *still_confidence.shape[1:]), dtype=np.float32))


def clips_of_signer(root: str | os.PathLike, signer: str, metadata: str = "metadata.csv") -> dict[str, list[str]]:
    """{gloss: [clip paths]} of one signer from `root/metadata.csv` (`file`, `label`, `signer` columns)."""
    path = Path(root, metadata)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("signer") == signer]
    if not rows:
        raise ValueError(f"{path}: no clips of signer {signer!r}")
    clips: dict[str, list[str]] = {}
    for row in rows:
        clips.setdefault(row["label"], []).append(str(Path(root, row["file"])))
    return clips


def make_recording(
    root: str | os.PathLike,
    signer: str,
    output: str | os.PathLike,
    signs: int = 12,
    pause_frames: tuple[int, int] = (5, 15),
    pause: str = "missing",
    seed: int = 0,
    transition_frames: tuple[int, int] = (0, 0),
    label_swaps: dict[str, tuple[str, str]] | None = None,
    glosses: Sequence[str] | None = None,
) -> dict:
    """Write `output` (.pose) and `output` with `.json` (ground truth) from `signs` clips of `signer`:
    glosses taken in turn in a seeded order (every gloss of the signer appears), clips never reused.
    Between two clips: a pause of `pause_frames` (MIN, MAX), a transition of `transition_frames`
    (`concatenate_clips`). `label_swaps` {signer: (gloss a, gloss b)} exchanges two published labels of a
    signer whose labels are known to be swapped; `glosses`: only clips of these glosses (default: all)."""
    rng = np.random.default_rng(seed)
    clips = {gloss: list(rng.permutation(files)) for gloss, files in sorted(clips_of_signer(root, signer).items())}
    swap = (label_swaps or {}).get(signer)
    if swap and all(gloss in clips for gloss in swap):
        clips[swap[0]], clips[swap[1]] = clips[swap[1]], clips[swap[0]]
    if glosses is not None:
        clips = {gloss: files for gloss, files in clips.items() if gloss in set(glosses)}
        if not clips:
            raise ValueError(f"signer {signer!r} has no clips of {sorted(glosses)}")
    order = list(rng.permutation(sorted(clips)))
    files, glosses = [], []
    while len(files) < signs and any(clips.values()):
        for gloss in order:
            if clips[gloss] and len(files) < signs:
                files.append(clips[gloss].pop())
                glosses.append(gloss)
        order = list(rng.permutation(order))
    pose, placed = concatenate_clips(files, glosses, pause_frames, pause, seed, tuple(transition_frames))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "wb") as handle:
        pose.write(handle)
    truth = {
        "recording": str(output),
        "signer": signer,
        "fps": float(pose.body.fps),
        "frames": int(pose.body.data.shape[0]),
        "glosses": sorted(set(glosses)),
        "pause": pause,
        "pause_frames": list(pause_frames),
        "transition_frames": list(transition_frames),
        "signs": [asdict(sign) for sign in placed],
    }
    output.with_suffix(".json").write_text(json.dumps(truth, indent=2), encoding="utf-8")
    return truth


__all__ = ["PlacedSign", "clips_of_signer", "concatenate_clips", "interpolate_transition", "make_recording"]
