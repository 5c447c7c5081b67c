"""`video-to-pose --ray`: a folder of videos -> `.pose` files on a Ray actor pool, byte-identical to one machine.

Each actor imports the MediaPipe / OpenCV stack once and converts one video per work item with the
package's own single-video step (`signclip_hf.video`), which builds a fresh Holistic graph per video exactly
as pose-format's `video_to_pose` does (reusing a graph across videos would change the landmarks), and writes
the `.pose` under a scratch name renamed when complete. Finished outputs are skipped (resume), failures
go to the same `video_errors.tsv` as the single-machine command, with the same reasons. Folders may be
local, shared (NFS) or any fsspec URL (staged through the actor's local disk).
"""

from __future__ import annotations

import os
import time
from pathlib import Path, PurePosixPath

from . import paths
from .runtime import RayConfig, map_items


def _find_videos(root: str) -> list[str]:
    """The videos under `root`, sorted, as the single-machine command lists them."""
    from ..modeling.video_signclip import VIDEO_EXTENSIONS
    from ..video import find_videos

    if paths.is_local(root):
        return [os.fspath(p) for p in find_videos(paths.local_path(root))]
    fs, remote = paths.filesystem(root)
    if not fs.isdir(remote):
        raise NotADirectoryError(f"{root}: not a folder")
    prefix = root[: len(root) - len(remote)] if root.endswith(remote) else ""
    found = sorted(p for p in fs.find(remote) if PurePosixPath(p).suffix.lower() in VIDEO_EXTENSIONS)
    return [prefix + p for p in found]


def _target(video: str, input_dir: str, output_dir: str) -> str:
    if paths.is_local(input_dir):
        relative = Path(video).relative_to(paths.local_path(input_dir)).with_suffix(".pose").as_posix()
    else:
        relative = PurePosixPath(video[len(input_dir.rstrip("/")) + 1 :]).with_suffix(".pose").as_posix()
    return paths.join(output_dir, relative)


class VideoWorker:
    """One Ray actor: the video stack imported once; an item {"key": video, "target": .pose path} -> its reason."""

    def __init__(self, max_seconds: float | None):
        from ..modeling.video_signclip import VideoConfig
        from ..video import require_video_stack

        require_video_stack()
        import cv2  # noqa: F401  (imported once per actor, not once per video)
        import mediapipe  # noqa: F401

        self.config = VideoConfig(max_seconds=max_seconds, cache_dir=None)

    def __call__(self, item: dict) -> dict:
        from ..video import _job  # the single-machine command's one-video step: same output, same reasons

        video, target = item["key"], item["target"]
        with paths.staged_input(video) as local_video, paths.staged_output(target) as local_target:
            reason = _job(local_video, local_target, self.config)
        return {"key": video, "reason": reason}


def convert_folder_ray(
    input_dir: str | os.PathLike, output_dir: str | os.PathLike, config: RayConfig, max_seconds: float | None = None
):
    """As `signclip_hf.video.convert_folder`, on a Ray actor pool; returns the same `VideoReport`.

    The same checks before any work (two videos writing one `.pose`, an errors table not ours), the same
    skipped outputs, reasons, broken-link rows and `video_errors.tsv`; only the videos run elsewhere.
    """
    from ..modeling.video_signclip import VideoConfig, remove_stale_scratch
    from ..video import (
        ERRORS_FILE, VideoReport, _scan, broken_link_reason, check_errors_table, errors_text, refuse_clashes,
        require_video_stack,
    )  # fmt: skip

    start = time.perf_counter()
    VideoConfig(max_seconds=max_seconds, cache_dir=None)  # validates the limits first
    require_video_stack()
    input_dir, output_dir = os.fspath(input_dir), os.fspath(output_dir)
    local = paths.is_local(input_dir) and paths.is_local(output_dir)
    if local:
        found, broken = _scan(paths.local_path(input_dir))
        videos = [os.fspath(v) for v in found]
    else:
        videos, broken = _find_videos(input_dir), []
    targets: dict[str, list[str]] = {}
    for video in videos:
        targets.setdefault(_target(video, input_dir, output_dir), []).append(video)
    refuse_clashes(targets, input_dir)
    errors = paths.join(output_dir, ERRORS_FILE)
    if local:
        check_errors_table(errors)
        remove_stale_scratch(paths.local_path(output_dir))  # left by a killed run
    report = VideoReport()
    jobs = []
    for target, (video,) in targets.items():
        if paths.exists(target):
            report.existing.append(video)
        else:
            jobs.append({"key": video, "target": target})
    results = map_items(jobs, VideoWorker, {"max_seconds": max_seconds}, config, "Extracting poses (Ray)", " videos")
    reasons = {job["key"]: results[job["key"]]["reason"] for job in jobs}  # in the single-machine order
    report.failed = {video: reason for video, reason in reasons.items() if reason is not None}
    report.converted = [job["key"] for job in jobs if job["key"] not in report.failed]
    for link in broken:
        report.failed[os.fspath(link)] = broken_link_reason(link)
    if local:
        os.makedirs(paths.local_path(output_dir), exist_ok=True)
        remove_stale_scratch(paths.local_path(output_dir))  # left by an actor killed mid-video (it was retried)
    if report.failed:
        paths.write_bytes(errors, errors_text(report.failed).encode("utf-8"))  # as `write_errors`: renamed into place
    else:
        paths.remove(errors)
    report.seconds = time.perf_counter() - start
    return report


__all__ = ["VideoWorker", "convert_folder_ray"]
