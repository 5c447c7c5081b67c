"""Render a pose as an animated GIF or MP4 skeleton with pose-format's `PoseVisualizer`.

Standalone on purpose (only numpy and pose-format at the top, OpenCV and Pillow lazily, nothing from
signclip_hf): an app can copy this file next to its own code. `render_pose(pose, "out.gif")` takes a
`pose_format.Pose`, a `.pose` path or `.pose` bytes; `video=` draws the skeleton over the source video.
The command line is `signclip-hf render` (commands/render.py).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Union

import numpy as np
from pose_format import Pose

# MediaPipe's world landmarks are metres around the hips, not pixels: drawn on the image they are a dot.
NOT_IN_IMAGE_SPACE = ("POSE_WORLD_LANDMARKS",)
PoseLike = Union[Pose, str, os.PathLike, bytes]


def load_pose(pose: PoseLike) -> Pose:
    """A `Pose` from a `Pose`, a `.pose` path or `.pose` bytes."""
    if isinstance(pose, Pose):
        return pose
    if isinstance(pose, (str, os.PathLike)):
        pose = Path(pose).read_bytes()
    if not isinstance(pose, (bytes, bytearray)) or not pose:
        raise ValueError(
            f"expected a pose_format.Pose, a .pose path or non-empty .pose bytes, got {type(pose).__name__}"
        )
    return Pose.read(bytes(pose))


def render_pose(
    pose: PoseLike,
    output_path: str | os.PathLike,
    *,
    fps: float | None = None,
    video: str | os.PathLike | None = None,
    max_frames: int | None = None,
    thickness: int | None = None,
) -> Path:
    """Draw `pose` frame by frame to `output_path` (`.gif`, or `.mp4` via OpenCV); returns the path.

    Args:
        fps: playback rate (default: the pose's own; pose files with fps 0 play at 25).
        video: the source video, drawn underneath (its frames are resized to the pose's dimensions).
        max_frames: render only the first frames (GIFs hold every frame in memory while writing).
        thickness: line width in pixels (default: pose-format's, from the image size).
    """
    from pose_format.pose_visualizer import PoseVisualizer

    pose = load_pose(pose)
    kept = [c.name for c in pose.header.components if c.name not in NOT_IN_IMAGE_SPACE]
    if len(kept) < len(pose.header.components):
        pose = pose.get_components(kept)
    if len(pose.body.data) == 0:
        raise ValueError("the pose has zero frames: nothing to render")
    rate = float(fps or pose.body.fps or 25.0)
    pose.body.fps = rate
    visualizer = PoseVisualizer(pose, thickness=thickness)
    if video is not None:
        frames = visualizer.draw_on_video(_bgr_frames(video), max_frames=max_frames)
    else:
        frames = visualizer.draw(max_frames=max_frames)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    suffix = output_path.suffix.lower()
    if suffix == ".gif":
        visualizer.save_gif(os.fspath(output_path), frames)
    elif suffix in (".mp4", ".avi"):
        _write_video(output_path, frames, rate)
    else:
        raise ValueError(f"{output_path}: choose a .gif, .mp4 or .avi output")
    return output_path


def _bgr_frames(video: str | os.PathLike) -> Iterable[np.ndarray]:
    """The video's frames one at a time, as OpenCV (and the visualizer) expect them."""
    import cv2

    capture = cv2.VideoCapture(os.fspath(video))
    if not capture.isOpened():
        raise ValueError(f"{video}: not a readable video")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield frame
    finally:
        capture.release()


def _write_video(output_path: Path, frames: Iterable[np.ndarray], fps: float) -> None:
    import cv2

    writer = None
    try:
        for frame in frames:
            if writer is None:
                fourcc = cv2.VideoWriter_fourcc(*("mp4v" if output_path.suffix.lower() == ".mp4" else "MJPG"))
                writer = cv2.VideoWriter(os.fspath(output_path), fourcc, fps, (frame.shape[1], frame.shape[0]))
                if not writer.isOpened():
                    raise OSError(f"{output_path}: OpenCV cannot write this video")
            writer.write(frame)
    finally:
        if writer is not None:
            writer.release()
