"""A folder of videos -> MediaPipe Holistic `.pose` files, at scale.

Each video is extracted exactly as pose-format's `video_to_pose --format mediapipe` does it (see
`modeling/video_signclip.py`) in parallel worker processes, with a progress bar. Finished files are kept
and skipped on the next run (resume); each `.pose` is written to a scratch name and renamed when complete,
so an interrupted run never leaves a half-written file that looks valid. Unreadable videos (not a video,
no frames, no person, too long, too large, truncated) and broken symbolic links are reported with the file
name and the reason; the others go on. Two videos that would write the same `.pose` (`a.mp4`, `a.avi`) are
refused before any work starts. Worker processes die with the parent, and the scratch files of a killed
run (`.signclip-<pid>-*.tmp`) are removed by the next run.
Also: `extract_to_cache` (used by `build-dataset` on videos) and `render_features`, which draws the
model's input array (frames, 203, 3) / (frames, 609) as a skeleton GIF.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from .extras import check
from .modeling import KEYPOINT_LAYOUTS
from .modeling.video_signclip import (
    VIDEO_EXTENSIONS,
    InvalidVideoError,
    VideoConfig,
    cached_pose_path,
    remove_stale_scratch,
    scratch_path,
    write_pose,
)

ERRORS_FILE = "video_errors.tsv"
ERRORS_HEADER = ("video", "reason")  # the first row: marks the file as ours (only then is it replaced)


@dataclass
class VideoReport:
    """What a conversion did: files written, already there (resume), and failures with their reason."""

    converted: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"converted {len(self.converted)} video(s) in {self.seconds:.1f}s, "
            f"{len(self.existing)} already done, {len(self.failed)} failed" + (":" if self.failed else "")
        ]
        lines.extend(f"  {video}: {reason}" for video, reason in sorted(self.failed.items()))
        return "\n".join(lines)


def find_videos(root: str | os.PathLike) -> list[Path]:
    """Video files under `root` (recursively, by extension), sorted."""
    return _scan(root)[0]


def _scan(root: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """(video files, broken symbolic links with a video extension) under `root`, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    named = [p for p in root.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS]
    videos = sorted(p for p in named if p.is_file())
    broken = sorted(p for p in named if p.is_symlink() and not p.exists())
    return videos, broken


def errors_text(failed: dict[str, str]) -> str:
    """The text of `video_errors.tsv`: a header row, then (video, reason) rows, sorted; tabs, newlines and
    quotes in names are quoted by the csv module, so `read_errors` gives the same names back."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, dialect="excel-tab", lineterminator="\n")
    writer.writerow(ERRORS_HEADER)
    writer.writerows(sorted(failed.items()))
    return buffer.getvalue()


def write_errors(path: str | os.PathLike, failed: dict[str, str]) -> None:
    """Write `errors_text(failed)` to `path` atomically (a scratch file renamed: a kill never leaves half a table)."""
    path = Path(path)
    scratch = scratch_path(path)
    scratch.write_text(errors_text(failed), encoding="utf-8", newline="")
    os.replace(scratch, path)


def read_errors(path: str | os.PathLike) -> dict[str, str]:
    """The (video -> reason) table of a `video_errors.tsv` written by `write_errors`."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, dialect="excel-tab"))
    if not rows or tuple(rows[0]) != ERRORS_HEADER:
        raise ValueError(f"{path}: not a video_errors.tsv written by signclip-hf (no {ERRORS_HEADER} header row)")
    return {row[0]: row[1] for row in rows[1:]}


def _is_our_errors_file(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.readline().rstrip("\r\n") == "\t".join(ERRORS_HEADER)
    except (OSError, UnicodeDecodeError):
        return False


def refuse_clashes(targets: dict, input_dir) -> None:
    """`targets` maps each output `.pose` to the videos that would write it: refuse if any has two or more."""
    clashes = {target: sources for target, sources in targets.items() if len(sources) > 1}
    if clashes:
        shown = "; ".join(
            " and ".join(os.path.basename(os.fspath(v)) for v in sources) + f" -> {target}"
            for target, sources in list(clashes.items())[:5]
        )
        more = f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        raise ValueError(
            f"{input_dir}: {sum(map(len, clashes.values()))} videos would write the same .pose file: {shown}{more}; "
            "rename them so each name is unique (nothing was converted)"
        )


def check_errors_table(path: str | os.PathLike) -> None:
    """Refuse to replace (or delete) a `video_errors.tsv` that this package did not write."""
    path = Path(path)
    if (path.exists() or path.is_symlink()) and not (path.is_file() and _is_our_errors_file(path)):
        raise ValueError(f"{path}: exists and was not written by signclip-hf; move it away (nothing was converted)")


def broken_link_reason(link: str | os.PathLike) -> str:
    return f"broken symbolic link: its target {os.readlink(link)!r} does not resolve (missing, or a loop)"


def _die_with_parent(parent: int) -> None:
    """Worker initializer: the worker exits when the process that started the pool dies (even by SIGKILL).

    Linux: the kernel's parent-death signal (prctl PR_SET_PDEATHSIG); everywhere: a thread that notices the
    re-parenting (getppid changes) within half a second, for platforms without prctl."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="signclip-parent-watch", daemon=True).start()


def _job(video: str, output: str | None, config: VideoConfig) -> str | None:
    """One video in a worker: None on success, else the reason it failed (one line)."""
    try:
        if output is None:
            cached_pose_path(video, config)
        else:
            write_pose(video, output, config)
    except InvalidVideoError as error:
        return f"{type(error).__name__}: {error.problem}"
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    return None


def _run(jobs: Sequence[tuple[str, str | None]], config: VideoConfig, num_proc: int, desc: str) -> dict[str, str]:
    """Run the jobs (in `num_proc` processes when > 1) with a progress bar; returns failures."""
    failed: dict[str, str] = {}
    progress = tqdm(total=len(jobs), unit=" videos", desc=desc)
    with progress:
        if num_proc <= 1 or len(jobs) <= 1:
            for video, output in jobs:
                reason = _job(video, output, config)
                if reason is not None:
                    failed[video] = reason
                progress.update()
            return failed
        # fork is cheap (no re-import) but unsafe once MediaPipe's threads run in this process
        context = multiprocessing.get_context("spawn" if "mediapipe" in sys.modules else "fork")
        workers = min(num_proc, len(jobs))
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent, initargs=(os.getpid(),))
        with pool:
            futures = {pool.submit(_job, video, output, config): video for video, output in jobs}
            for future in as_completed(futures):
                reason = future.result()
                if reason is not None:
                    failed[futures[future]] = reason
                progress.update()
    return failed


def convert_folder(
    input_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    num_proc: int = 1,
    max_seconds: float | None = None,
) -> VideoReport:
    """Every video under `input_dir` -> `output_dir/<same relative path>.pose`, skipping finished ones.

    Failures (and broken symbolic links) are also written to `output_dir/video_errors.tsv` (video, reason).
    Refused before any work: two videos that would write the same `.pose` (`a.mp4` and `a.avi` -> `a.pose`;
    renaming one is the user's choice, a silent `a.mp4.pose` scheme would break resuming folders converted
    before), and a `video_errors.tsv` this package did not write.
    """
    start = time.perf_counter()
    config = VideoConfig(max_seconds=max_seconds, cache_dir=None)  # validates the limits first
    require_video_stack()
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    report = VideoReport()
    videos, broken = _scan(input_dir)
    targets: dict[Path, list[Path]] = {}
    for video in videos:
        targets.setdefault(output_dir / video.relative_to(input_dir).with_suffix(".pose"), []).append(video)
    refuse_clashes(targets, input_dir)
    errors = output_dir / ERRORS_FILE
    check_errors_table(errors)
    remove_stale_scratch(output_dir)  # left by a killed run
    jobs = []
    for target, (video,) in targets.items():
        if target.is_file():
            report.existing.append(os.fspath(video))
        else:
            jobs.append((os.fspath(video), os.fspath(target)))
    report.failed = _run(jobs, config, num_proc, "Extracting poses (MediaPipe Holistic)")
    report.converted = [video for video, _ in jobs if video not in report.failed]
    for link in broken:
        report.failed[os.fspath(link)] = broken_link_reason(link)
    output_dir.mkdir(parents=True, exist_ok=True)
    if report.failed:
        write_errors(errors, report.failed)
    elif errors.exists():
        errors.unlink()
    report.seconds = time.perf_counter() - start
    return report


def require_video_stack() -> None:
    """MediaPipe and OpenCV are installed, or the `pip install "signclip-hf[video]"` error (before any worker
    starts; the workers import them)."""
    check("mediapipe", "video")
    check("cv2", "video", "opencv-python-headless")


def extract_to_cache(videos: Sequence[str | os.PathLike], num_proc: int = 1, config: VideoConfig | None = None):
    """Fill the pose cache for `videos` in parallel (build-dataset then reads each from the cache)."""
    config = config or VideoConfig()
    require_video_stack()
    if config.cache_dir is None:
        raise ValueError("extracting a folder of videos needs the pose cache: set SIGNCLIP_HF_POSE_CACHE to a folder")
    remove_stale_scratch(config.cache_dir)  # left by a killed run
    return _run([(os.fspath(v), None) for v in videos], config, num_proc, "Extracting poses (MediaPipe Holistic)")


def features_to_pose(features: np.ndarray, keypoint_layout: str = "holistic", fps: float = 25.0, size: int = 512):
    """The model's input array ((frames, K, 3) or (frames, 3K), shoulder-normalized) -> a drawable `Pose`.

    Points are scaled to fit a `size` x `size` canvas; all-zero points (missing or hidden) are not drawn.
    """
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
    from pose_format.utils.holistic import formatted_holistic_pose, holistic_hand_component

    layout = KEYPOINT_LAYOUTS[keypoint_layout]
    points = np.asarray(features, dtype=np.float32).reshape(len(features), layout.num_points, 3)
    seen = np.isfinite(points).all(-1) & (points != 0).any(-1)
    if not seen.any():
        raise ValueError("no point is observed in any frame: nothing to draw")
    xy = points[..., :2][seen]
    low, high = xy.min(0), xy.max(0)
    scale = 0.9 * size / max(float((high - low).max()), 1e-6)
    pixels = points.copy()
    pixels[..., :2] = (points[..., :2] - (low + high) / 2) * scale + size / 2
    if keypoint_layout == "holistic":
        components = formatted_holistic_pose(size, size).header.components
    else:
        components = [holistic_hand_component(name) for name, _ in layout.components]
    header = PoseHeader(0.2, PoseHeaderDimensions(size, size, 0), components)
    body = NumPyPoseBody(fps, np.where(seen[..., None], pixels, 0)[:, None], seen[:, None].astype(np.float32))
    return Pose(header, body)


def render_features(features: np.ndarray, output_path: str | os.PathLike, keypoint_layout: str = "holistic", **kwargs):
    """Draw the model's input array as an animated skeleton (see `render.render_pose` for the options)."""
    from .render import render_pose

    return render_pose(features_to_pose(features, keypoint_layout), output_path, **kwargs)
