"""Render a pose as an animated GIF or MP4 skeleton with pose-format's `PoseVisualizer`.

Standalone on purpose (only numpy and pose-format at the top, OpenCV and Pillow lazily, nothing from
signclip_hf): an app can copy this file next to its own code. `render_pose(pose, "out.gif")` takes a
`pose_format.Pose`, a `.pose` path or `.pose` bytes; `video=` draws the skeleton over the source video.
The command line is `signclip-hf render` (commands/render.py).

Any pose draws: the canvas is the pose's own size, scaled (points included) into
[`MIN_CANVAS`, `MAX_CANVAS`] pixels on its longer side, and lines are at least one pixel wide
(pose-format's visualizer computes a width of 0, and OpenCV refuses it, below ~110 x 110 pixels).
A drawing failure is one `ValueError` line naming the pose.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Union

import numpy as np
from pose_format import Pose

# MediaPipe's world landmarks are metres around the hips, not pixels: drawn on the image they are a dot.
NOT_IN_IMAGE_SPACE = ("POSE_WORLD_LANDMARKS",)
PoseLike = Union[Pose, str, os.PathLike, bytes]
MIN_CANVAS, MAX_CANVAS = 256, 2048  # longer side of the drawing, pixels
MAX_VIDEO_MEGAPIXELS = 36.0  # a background video with larger frames is refused before decoding (8K UHD: 33.2)


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
    name: str | None = None,
) -> Path:
    """Draw `pose` frame by frame to `output_path` (`.gif`, or `.mp4` via OpenCV); returns the path.

    Args:
        fps: playback rate (default: the pose's own; pose files with fps 0 play at 25).
        video: the source video, drawn underneath (its frames are resized to the pose's dimensions).
        max_frames: render only the first frames (GIFs hold every frame in memory while writing).
        thickness: line width in pixels (default: pose-format's, from the image size, at least 1).
        name: how error messages name the pose (default: its path, or "pose").
    """
    import cv2
    from pose_format.pose_visualizer import PoseVisualizer

    name = name or (os.fspath(pose) if isinstance(pose, (str, os.PathLike)) else "pose")
    output_path = Path(output_path)
    suffix = output_path.suffix.lower()
    if suffix not in (".gif", ".mp4", ".avi"):
        raise ValueError(f"{output_path}: choose a .gif, .mp4 or .avi output")
    pose = load_pose(pose)
    kept = [c.name for c in pose.header.components if c.name not in NOT_IN_IMAGE_SPACE]
    if len(kept) < len(pose.header.components):
        pose = pose.get_components(kept)
    if len(pose.body.data) == 0:
        raise ValueError(f"{name}: the pose has zero frames: nothing to render")
    pose = _on_canvas(pose, name)
    rate = float(fps or pose.body.fps or 25.0)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(f"{name}: cannot play at {rate:g} fps; give a positive frame rate")
    pose.body.fps = rate
    if thickness is None:  # pose-format's own rule, but never 0
        dimensions = pose.header.dimensions
        thickness = max(1, round(math.sqrt(dimensions.width * dimensions.height) / 150))
    visualizer = PoseVisualizer(pose, thickness=thickness)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if video is not None:
            frames = visualizer.draw_on_video(_bgr_frames(video), max_frames=max_frames)
        else:
            frames = visualizer.draw(max_frames=max_frames)
        if suffix == ".gif":
            visualizer.save_gif(os.fspath(output_path), frames)
        else:
            _write_video(output_path, frames, rate)
    except (cv2.error, OverflowError, MemoryError) as error:
        detail = " ".join(str(error).split())[-300:]
        raise ValueError(f"{name}: cannot draw this pose ({type(error).__name__}: {detail})") from None
    return output_path


def _on_canvas(pose: Pose, name: str) -> Pose:
    """The pose scaled so that its canvas' longer side is within [MIN_CANVAS, MAX_CANVAS] (a new `Pose`;
    the given one is not changed). A tiny video's pose is drawn larger, a huge header is not allocated."""
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions

    dimensions = pose.header.dimensions
    width, height = int(dimensions.width), int(dimensions.height)
    if width <= 0 or height <= 0:
        raise ValueError(f"{name}: the pose header gives a {width}x{height} canvas; nothing can be drawn on it")
    longest = max(width, height)
    if MIN_CANVAS <= longest <= MAX_CANVAS:
        return pose
    scale = (MIN_CANVAS if longest < MIN_CANVAS else MAX_CANVAS) / longest
    size = PoseHeaderDimensions(max(1, round(width * scale)), max(1, round(height * scale)), dimensions.depth)
    header = PoseHeader(pose.header.version, size, pose.header.components, is_bbox=pose.header.is_bbox)
    data = pose.body.data.copy()
    data[..., :2] *= scale
    return Pose(header, NumPyPoseBody(pose.body.fps, data, pose.body.confidence))


def _bgr_frames(video: str | os.PathLike) -> Iterable[np.ndarray]:
    """The video's frames one at a time, as OpenCV (and the visualizer) expect them."""
    import cv2

    capture = cv2.VideoCapture(os.fspath(video))
    if not capture.isOpened():
        raise ValueError(f"{video}: not a readable video")
    width, height = (capture.get(p) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
    if width * height > MAX_VIDEO_MEGAPIXELS * 1e6:
        capture.release()
        raise ValueError(
            f"{video}: frames of {width:.0f}x{height:.0f} ({width * height / 1e6:.1f} MP); "
            f"videos up to {MAX_VIDEO_MEGAPIXELS:g} MP can be drawn under a pose"
        )
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
