"""Videos -> MediaPipe Holistic `.pose` files, exactly as pose-format's `video_to_pose --format mediapipe`.

SignCLIP (Jiang et al., EMNLP 2024) was trained on poses that pose-format's `video_to_pose` extracted
with MediaPipe Holistic (pose_format/bin/pose_estimation.py `pose_video` -> pose_format/utils/holistic.py
`load_holistic`). This module runs the same Holistic graph, with the same settings and pose-format's own
per-frame landmark reader, on frames streamed one at a time from `cv2.VideoCapture`, and streams the
landmarks to disk: memory stays bounded for any length or resolution, and the file is byte-identical to
`video_to_pose` on the same video. Poses are cached by content hash, so a video is extracted only once.

mediapipe, cv2 and pose_format are imported lazily inside `try` blocks (remote-code rule), so the model
loads without them; video input then asks for `pip install "signclip-hf[video]"`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .keypoints_signclip import InvalidPoseError

# `video_to_pose` passes its (empty) --additional-config to `process_holistic`, which adds only
# static_image_mode=False: every other Holistic setting is MediaPipe's default (model_complexity=1,
# smooth_landmarks=True, refine_face_landmarks=False, detection/tracking confidence 0.5).
HOLISTIC_SETTINGS = {"static_image_mode": False}
VIDEO_EXTENSIONS = frozenset(".mp4 .m4v .mov .avi .mkv .webm .mpg .mpeg .ts .mts .wmv .flv .3gp .ogv".split())
INSTALL_HINT = (
    'video input needs MediaPipe Holistic and OpenCV: pip install "signclip-hf[video]" '
    "(mediapipe==0.10.21, the last release whose wheel bundles the Holistic models; it needs numpy<2)"
)
CACHE_ENV = "SIGNCLIP_HF_POSE_CACHE"  # a folder, or "off" to disable the cache
_CHUNK_FRAMES = 64  # landmarks buffered in memory before each write (~0.6 MB)
_FORMAT_VERSION = "1"  # bump when the extraction changes: old cache entries are then ignored


class InvalidVideoError(InvalidPoseError):
    """A video input that cannot become a pose; the message names the input and the problem."""


class UnreadableVideoError(InvalidVideoError):
    """Not a video OpenCV/FFmpeg can decode (empty, truncated, another format), or no frames in it.

    A truncated file whose first frames decode is refused too (pose-format's `video_to_pose` would
    quietly write the decodable part).
    """


class NoPersonError(InvalidVideoError):
    """MediaPipe Holistic found no person in any frame."""


class VideoTooLongError(InvalidVideoError):
    """Longer than the configured duration limit."""


@dataclass(frozen=True)
class VideoConfig:
    """How videos become poses.

    Args:
        max_seconds: refuse videos longer than this (None: any length; extraction streams, so length
            costs time, not memory).
        cache_dir: folder of extracted `.pose` files keyed by content hash (None: no cache). Default:
            `$SIGNCLIP_HF_POSE_CACHE`, else `~/.cache/signclip_hf/poses` (`$XDG_CACHE_HOME` respected);
            `SIGNCLIP_HF_POSE_CACHE=off` disables it.
        array_fps: frame rate recorded for `(frames, H, W, 3)` uint8 arrays, which carry none.
    """

    max_seconds: float | None = None
    cache_dir: str | None = field(default_factory=lambda: default_cache_dir())
    array_fps: float = 30.0


def default_cache_dir() -> str | None:
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        return None if value.strip().lower() in ("", "0", "off", "none", "false") else value
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "signclip_hf", "poses")


def _sniff(head: bytes) -> bool:
    """Whether bytes start like a video container (MP4/MOV, Matroska/WebM, AVI, MPEG-PS/TS, FLV, Ogg, ASF)."""
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
        or head.startswith((b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3", b"FLV", b"OggS"))
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")
        or (len(head) > 188 and head[0] == 0x47 and head[188] == 0x47)
    )


def is_video(source: Any) -> bool:
    """A video path (by extension, or by its first bytes unless it is a `.pose`), video bytes, or uint8 frames."""
    if isinstance(source, np.ndarray):
        return source.dtype == np.uint8 and source.ndim == 4 and source.shape[-1] == 3
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _sniff(bytes(source[:200]))
    if isinstance(source, (str, os.PathLike)):
        suffix = Path(source).suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            return True
        if suffix == ".pose" or not os.path.isfile(source):
            return False
        with open(source, "rb") as handle:
            return _sniff(handle.read(200))
    return False


def describe_video(source: Any) -> str:
    if isinstance(source, np.ndarray):
        return f"<{source.shape[0]} video frames {source.shape[2]}x{source.shape[1]}>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes of video>"
    return os.fspath(source)


def as_pose_source(source: Any, name: str | None = None, config: VideoConfig | None = None) -> Any:
    """A video input becomes its `.pose` (a cached path, or bytes); any other input is returned as is."""
    return video_pose_source(source, name, config) if is_video(source) else source


def video_pose_source(source: Any, name: str | None = None, config: VideoConfig | None = None) -> Any:
    """A video known to be one (`is_video`) -> its `.pose`: a path in the cache, or bytes without a cache."""
    config = config or VideoConfig()
    if config.cache_dir is not None:
        return cached_pose_path(source, config, name)
    with tempfile.TemporaryDirectory(prefix="signclip-video-") as directory:
        return write_pose(source, Path(directory, "clip.pose"), config, name).read_bytes()


def video_to_pose(source: Any, config: VideoConfig | None = None, name: str | None = None):
    """A video (path, bytes, or (frames, H, W, 3) uint8 RGB array) -> `pose_format.Pose`, via the cache."""
    from pose_format import Pose

    pose = as_pose_source(source, name, config)
    return Pose.read(pose if isinstance(pose, bytes) else Path(pose).read_bytes())


@functools.lru_cache(maxsize=1)
def _extractor_versions() -> list[str]:
    """mediapipe and pose-format versions (part of the cache key); looked up once per process."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return [version("mediapipe"), version("pose-format")]
    except PackageNotFoundError:
        raise ImportError(INSTALL_HINT) from None


def content_key(source: Any, config: VideoConfig) -> str:
    """sha256 of the video's bytes (or frames) and of everything that changes the extracted pose."""
    digest = hashlib.sha256()
    settings = {"v": _FORMAT_VERSION, "holistic": HOLISTIC_SETTINGS, "versions": _extractor_versions()}
    if isinstance(source, np.ndarray):
        settings.update(shape=source.shape, fps=config.array_fps)
    digest.update(json.dumps(settings, sort_keys=True).encode())
    if isinstance(source, np.ndarray):
        digest.update(np.ascontiguousarray(source).data)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        digest.update(source)
    else:
        with open(source, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cached_pose_path(source: Any, config: VideoConfig | None = None, name: str | None = None) -> Path:
    """The `.pose` of a video in the cache, extracted on the first call only.

    Failures that depend only on the content (not a video, no frames, no person) are cached too, so a
    bad video is not decoded again just to fail again.
    """
    config = config or VideoConfig()
    if config.cache_dir is None:
        raise ValueError(f"the pose cache is disabled ({CACHE_ENV}=off); give a cache_dir")
    name = name or describe_video(source)
    if not isinstance(source, np.ndarray) and not isinstance(source, (bytes, bytearray, memoryview)):
        _check_file(source, name)
    key = content_key(source, config)
    target = Path(config.cache_dir, key[:2], f"{key}.pose")
    failure = target.with_suffix(".error.json")
    if target.is_file():
        _check_cached_duration(target, config, name)
        return target
    if failure.is_file():
        record = json.loads(failure.read_text(encoding="utf-8"))
        raise _ERRORS.get(record["error"], InvalidVideoError)(name, record["problem"])
    try:
        return write_pose(source, target, config, name)
    except (UnreadableVideoError, NoPersonError) as error:
        _atomic_write_bytes(failure, json.dumps({"error": type(error).__name__, "problem": error.problem}).encode())
        raise


def write_pose(source: Any, output: str | os.PathLike, config: VideoConfig | None = None, name: str | None = None):
    """Extract a video's pose to `output`, atomically: an interrupted run never leaves a valid-looking file."""
    config = config or VideoConfig()
    name = name or describe_video(source)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, np.ndarray):
        if not is_video(source):
            raise InvalidVideoError(name, f"expected (frames, height, width, 3) uint8 RGB frames, got {source.shape}")
        frames = _ArrayFrames(source, config.array_fps)
        return _extract(frames, output, name, config)
    if isinstance(source, (bytes, bytearray, memoryview)):
        with tempfile.TemporaryDirectory(prefix="signclip-video-") as directory:
            path = Path(directory, "video")
            path.write_bytes(source)
            return _extract(_VideoFileFrames(path, name), output, name, config)
    _check_file(source, name)
    return _extract(_VideoFileFrames(source, name), output, name, config)


def _check_file(path, name: str) -> None:
    if not os.path.exists(path):
        raise FileNotFoundError(f"{name}: no such file")
    if os.path.isdir(path):
        raise UnreadableVideoError(name, "is a directory, not a video")
    if os.path.getsize(path) == 0:
        raise UnreadableVideoError(name, "the file is empty (0 bytes)")


def _video_stack():
    try:
        import cv2
        from pose_format.utils import holistic
    except ImportError as error:
        raise ImportError(f"{INSTALL_HINT} ({error})") from error
    return cv2, holistic


class _VideoFileFrames:
    """RGB frames decoded one at a time by OpenCV (its FFmpeg backend decodes the same pixels as PyAV's
    rgb24 conversion that `video_to_pose` uses; rotation metadata is applied by both)."""

    def __init__(self, path, name: str):
        cv2, _ = _video_stack()
        self.cv2, self.name = cv2, name
        self.capture = cv2.VideoCapture(os.fspath(path))
        if not self.capture.isOpened():
            raise UnreadableVideoError(name, "not a readable video (OpenCV/FFmpeg cannot open it: another format?)")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and fps > 0 else 0.0
        count = self.capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.declared_frames = int(count) if math.isfinite(count) and count > 0 else None

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok:
                    return
                yield self.cv2.cvtColor(frame, self.cv2.COLOR_BGR2RGB)
        finally:
            self.capture.release()


class _ArrayFrames:
    def __init__(self, frames: np.ndarray, fps: float):
        self.frames, self.fps, self.declared_frames = frames, fps, len(frames)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (np.ascontiguousarray(frame) for frame in self.frames)


def _extract(frames, output: Path, name: str, config: VideoConfig) -> Path:
    """Holistic on each frame, landmarks streamed to two scratch files, then assembled into the `.pose`.

    Per frame this is pose-format's `process_holistic` (same Holistic settings, same `_extract_frame_data`),
    written as float32 like `NumPyPoseBody.write`. Each video gets a fresh Holistic graph, as in a
    `video_to_pose` process: pose-format's `HolisticPool` reuses graphs after a blank frame, which
    measurably changes the tracked landmarks of the next video (up to 13 px on the test video).
    """
    _, holistic = _video_stack()
    from pose_format.pose_header import PoseHeader, PoseHeaderDimensions
    from pose_format.utils.reader import ConstStructs

    limit = _frame_limit(config, frames.fps)
    if limit is not None and frames.declared_frames is not None and frames.declared_frames > limit:
        seconds = frames.declared_frames / (frames.fps or 30.0)
        raise VideoTooLongError(name, f"{seconds:.1f} s long; the limit is {config.max_seconds:g} s")
    num_points = sum(len(c.points) for c in holistic.holistic_components("XYZC", 0))
    scratch = [output.with_name(f".{output.name}.{os.getpid()}.{part}.tmp") for part in ("data", "conf", "pose")]
    model = holistic.mp_holistic.Holistic(**HOLISTIC_SETTINGS)
    count, person, size = 0, False, None
    data = np.empty((_CHUNK_FRAMES, num_points, 3), np.float32)
    conf = np.empty((_CHUNK_FRAMES, num_points), np.float32)
    try:
        with open(scratch[0], "wb") as data_file, open(scratch[1], "wb") as conf_file:
            for frame in frames:
                if size is None:
                    size = frame.shape[1], frame.shape[0]
                if limit is not None and count >= limit:
                    raise VideoTooLongError(name, f"more than {config.max_seconds:g} s long (the limit)")
                results = model.process(frame)
                person |= results.pose_landmarks is not None
                data[count % _CHUNK_FRAMES], conf[count % _CHUNK_FRAMES] = holistic._extract_frame_data(
                    results, size[0], size[1], 0
                )
                count += 1
                if count % _CHUNK_FRAMES == 0:
                    data_file.write(data.tobytes())
                    conf_file.write(conf.tobytes())
            rest = count % _CHUNK_FRAMES
            data_file.write(data[:rest].tobytes())
            conf_file.write(conf[:rest].tobytes())
        if count == 0:
            raise UnreadableVideoError(name, "no frame could be decoded (empty or truncated video)")
        declared = frames.declared_frames
        if declared is not None and declared - count > max(2, declared // 10):  # headers may be off by a few
            raise UnreadableVideoError(
                name, f"truncated or damaged: the container declares {declared} frames, only {count} could be decoded"
            )
        if not person:
            raise NoPersonError(name, f"MediaPipe Holistic found no person in any of the {count} frames")
        header = PoseHeader(  # as pose-format's `load_holistic` builds it
            version=0.2,
            dimensions=PoseHeaderDimensions(width=size[0], height=size[1], depth=0),
            components=holistic.holistic_components("XYZC", 0),
        )
        with open(scratch[2], "wb") as pose_file:
            header.write(pose_file)
            pose_file.write(ConstStructs.float.pack(frames.fps))
            pose_file.write(ConstStructs.uint.pack(count))
            pose_file.write(ConstStructs.ushort.pack(1))
            for part in scratch[:2]:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, pose_file, 1 << 20)
        os.replace(scratch[2], output)
        return output
    finally:
        model.close()
        for path in scratch:
            path.unlink(missing_ok=True)


def _frame_limit(config: VideoConfig, fps: float) -> int | None:
    """Most frames allowed by `max_seconds` (videos without a frame rate count as 30 fps)."""
    return None if config.max_seconds is None else math.floor(config.max_seconds * (fps or 30.0) + 1e-6)


def _check_cached_duration(path: Path, config: VideoConfig, name: str) -> None:
    """The duration limit applies to cache hits too: frames and fps are read from the `.pose` header."""
    if config.max_seconds is None:
        return
    from pose_format.pose_header import PoseHeader
    from pose_format.utils.reader import BufferReader, ConstStructs

    with open(path, "rb") as handle:
        reader = BufferReader(handle.read(256 * 1024))  # a holistic header is ~14 KB
    PoseHeader.read(reader)
    fps, count = reader.unpack(ConstStructs.float), reader.unpack(ConstStructs.uint)
    if count > _frame_limit(config, fps):
        raise VideoTooLongError(name, f"{count / (fps or 30.0):.1f} s long; the limit is {config.max_seconds:g} s")


def _atomic_write_bytes(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_bytes(content)
    os.replace(scratch, path)


_ERRORS = {cls.__name__: cls for cls in (InvalidVideoError, UnreadableVideoError, NoPersonError, VideoTooLongError)}

__all__ = [
    "VideoConfig",
    "InvalidVideoError",
    "UnreadableVideoError",
    "NoPersonError",
    "VideoTooLongError",
    "HOLISTIC_SETTINGS",
    "VIDEO_EXTENSIONS",
    "is_video",
    "as_pose_source",
    "video_pose_source",
    "video_to_pose",
    "write_pose",
    "cached_pose_path",
    "default_cache_dir",
]
