"""Videos -> MediaPipe Holistic `.pose` files, exactly as pose-format's `video_to_pose --format mediapipe`.

SignCLIP (Jiang et al., EMNLP 2024) was trained on poses that pose-format's `video_to_pose` extracted
with MediaPipe Holistic (pose_format/bin/pose_estimation.py `pose_video` -> pose_format/utils/holistic.py
`load_holistic`). This module runs the same Holistic graph, with the same settings and pose-format's own
per-frame landmark reader, on frames streamed one at a time from `cv2.VideoCapture`, and streams the
landmarks to disk; the file is byte-identical to `video_to_pose` on the same video (frames up to
`VideoConfig.max_side` pixels). Poses are cached by content hash, so a video is extracted only once.

A container's claims are never trusted alone (`VideoConfig` holds every limit): the frame rate must be
plausible, the number of decoded frames and the extraction's wall time are capped independently of it,
frames larger than `max_side` are downscaled before MediaPipe (landmarks stay in the original pixel
coordinates) and frames above `max_megapixels` are refused, by the size the container claims before
anything is decoded and by each decoded frame; a video that decodes fewer frames than it declares is
refused as truncated. So memory is bounded per frame for any length or resolution, and time per limit.

mediapipe, cv2 and pose_format are imported lazily inside `try` blocks (remote-code rule), so the model
loads without them; video input then asks for `pip install "signclip-hf[video]"`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import time
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
_FORMAT_VERSION = "2"  # bump when the extraction changes: old cache entries are then ignored
# A duration limit also caps the frames decoded, at this rate whatever the header says (a header claiming
# 1000 fps would otherwise let 5 s hold 5,000 frames): sign language video is recorded at 24-60 fps.
ASSUMED_MAX_FPS = 60.0
# Scratch files: `.signclip-<pid>-<name>.tmp`; a later run removes those whose process is gone.
SCRATCH_PREFIX = ".signclip-"
_SCRATCH = re.compile(r"^\.signclip-(\d+)-.*\.tmp$")


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
    """Longer than the configured duration limit (seconds, frames, or extraction time)."""


class VideoTooLargeError(InvalidVideoError):
    """A frame larger than `VideoConfig.max_megapixels` (claimed by the container or decoded)."""


@dataclass(frozen=True)
class VideoConfig:
    """How videos become poses.

    Args:
        max_seconds: refuse videos longer than this, by the frame rate they declare (None: any length;
            extraction streams, so length costs time, not memory).
        max_frames: refuse videos with more decoded frames than this, whatever their header says.
            Default: `max_seconds` at `ASSUMED_MAX_FPS` (60) frames a second; no cap without `max_seconds`.
        max_extract_seconds: give up (`VideoTooLongError`) when one extraction runs longer than this
            wall-clock time. Default: 60 + 10 x `max_seconds` (MediaPipe does ~18 frames/s on one core);
            none without `max_seconds`.
        max_side: frames whose longer side exceeds this are downscaled to it (`cv2.INTER_AREA`) before
            MediaPipe (which works at 256 px anyway); landmarks stay in the original pixel coordinates.
        max_megapixels: refuse frames larger than this: first by the size the container claims, before
            decoding, then by each decoded frame (8K UHD is 33.2 MP).
        min_fps, max_fps: refuse videos declaring a frame rate outside this range (or none).
        cache_dir: folder of extracted `.pose` files keyed by content hash (None: no cache). Default:
            `$SIGNCLIP_HF_POSE_CACHE`, else `~/.cache/signclip_hf/poses` (`$XDG_CACHE_HOME` respected);
            `SIGNCLIP_HF_POSE_CACHE=off` disables it.
        array_fps: frame rate recorded for `(frames, H, W, 3)` uint8 arrays, which carry none.
    """

    max_seconds: float | None = None
    max_frames: int | None = None
    max_extract_seconds: float | None = None
    max_side: int = 1920
    max_megapixels: float = 36.0
    min_fps: float = 1.0
    max_fps: float = 240.0
    cache_dir: str | None = field(default_factory=lambda: default_cache_dir())
    array_fps: float = 30.0

    def __post_init__(self):
        def positive(name, integer=False, optional=True):
            value = getattr(self, name)
            if value is None and optional:
                return
            if integer:
                ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1
            else:
                ok = (
                    isinstance(value, (int, float, np.integer, np.floating))
                    and not isinstance(value, bool)
                    and math.isfinite(value)
                    and value > 0
                )
            if not ok:
                kind = "a whole number >= 1" if integer else "a positive finite number"
                raise ValueError(f"VideoConfig.{name} must be {kind}{' or None' if optional else ''}, got {value!r}")

        for name in ("max_seconds", "max_extract_seconds"):
            positive(name)
        positive("max_frames", integer=True)
        positive("max_side", integer=True, optional=False)
        for name in ("max_megapixels", "min_fps", "max_fps", "array_fps"):
            positive(name, optional=False)
        if self.min_fps > self.max_fps:
            raise ValueError(f"VideoConfig.min_fps ({self.min_fps:g}) is above max_fps ({self.max_fps:g})")
        if not self.min_fps <= self.array_fps <= self.max_fps:
            raise ValueError(f"VideoConfig.array_fps ({self.array_fps:g}) is outside {self.min_fps:g}-{self.max_fps:g}")

    def frame_limit(self) -> int | None:
        """Most decoded frames allowed, independent of any header (None: no cap)."""
        if self.max_frames is not None:
            return int(self.max_frames)
        return None if self.max_seconds is None else math.ceil(self.max_seconds * ASSUMED_MAX_FPS - 1e-6)

    def time_limit(self) -> float | None:
        """Most wall-clock seconds one extraction may take (None: no cap)."""
        if self.max_extract_seconds is not None:
            return float(self.max_extract_seconds)
        return None if self.max_seconds is None else 60.0 + 10.0 * self.max_seconds

    def fps_in_range(self, fps: float) -> bool:
        return math.isfinite(fps) and self.min_fps <= fps <= self.max_fps

    def check_fps(self, fps: float, name: str) -> None:
        if not self.fps_in_range(fps):
            claim = "declares no frame rate" if not math.isfinite(fps) or fps <= 0 else f"declares {fps:g} fps"
            raise InvalidVideoError(
                name,
                f"{claim}; frame rates outside {self.min_fps:g}-{self.max_fps:g} fps are refused (a damaged header?)",
            )

    def check_size(self, width: int, height: int, name: str, claimed: bool = False) -> None:
        if width * height > self.max_megapixels * 1e6:
            what = "the container claims frames of" if claimed else "a decoded frame is"
            raise VideoTooLargeError(
                name,
                f"{what} {width}x{height} ({width * height / 1e6:.1f} MP); the limit is {self.max_megapixels:g} MP",
            )


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
    with tempfile.TemporaryDirectory(prefix=f"signclip-video-{os.getpid()}-") as directory:
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
        frames = _ArrayFrames(source, config, name)
        return _extract(frames, output, name, config)
    if isinstance(source, (bytes, bytearray, memoryview)):
        with tempfile.TemporaryDirectory(prefix=f"signclip-video-{os.getpid()}-") as directory:
            path = Path(directory, "video")
            path.write_bytes(source)
            return _extract(_VideoFileFrames(path, name, config), output, name, config)
    _check_file(source, name)
    return _extract(_VideoFileFrames(source, name, config), output, name, config)


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


def _fit(cv2, frame: np.ndarray, config: VideoConfig, name: str) -> tuple[np.ndarray, int, int]:
    """A decoded frame checked against the pixel limit and downscaled to `max_side`; with its original size."""
    height, width = frame.shape[:2]
    config.check_size(width, height, name)
    longest = max(width, height)
    if longest > config.max_side:
        scale = config.max_side / longest
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return frame, width, height


_RATE_PROBE_FRAMES = 12  # frames decoded to measure a variable frame rate


class _VideoFileFrames:
    """RGB frames decoded one at a time by OpenCV (its FFmpeg backend decodes the same pixels as PyAV's
    rgb24 conversion that `video_to_pose` uses; rotation metadata is applied by both).

    The claimed frame size is checked before the first frame is decoded; each decoded frame is checked
    again and downscaled (before the colour conversion, so only one full-size copy exists at a time)."""

    def __init__(self, path, name: str, config: VideoConfig):
        cv2, _ = _video_stack()
        self.cv2, self.name, self.config = cv2, name, config
        self.capture = cv2.VideoCapture(os.fspath(path))
        if not self.capture.isOpened():
            raise UnreadableVideoError(name, "not a readable video (OpenCV/FFmpeg cannot open it: another format?)")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and fps > 0 else 0.0
        count = self.capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.declared_frames = int(count) if math.isfinite(count) and count > 0 else None
        self.declared_seconds, self.last_seconds = None, None
        width, height = (self.capture.get(p) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
        if math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0:
            try:
                config.check_size(int(width), int(height), name, claimed=True)
            except InvalidVideoError:
                self.capture.release()
                raise
        self._check_rate(path)

    def _check_rate(self, path) -> None:
        """The frame rate the first `_RATE_PROBE_FRAMES` frame timestamps show (median spacing), against the
        header's. A constant-rate file agrees with its header, which is kept (so the `.pose` matches pose-format's
        `video_to_pose`). A variable-frame-rate container — a browser's MediaRecorder WebM, where OpenCV reports
        the 1 ms time base as "1000 fps" or a rate guessed from the first frames — gets the measured rate, and its
        declared frame count (derived from that guess) is replaced by its declared duration. A header that lies
        about evenly spaced frames (2,000 frames 1 ms apart) measures the same absurd rate and is refused."""
        stamps = []
        for _ in range(_RATE_PROBE_FRAMES):
            if not self.capture.grab():
                break
            stamps.append(self.capture.get(self.cv2.CAP_PROP_POS_MSEC))
        self.capture.release()
        steps = np.diff(np.asarray(stamps, dtype=np.float64))
        steps = steps[np.isfinite(steps) & (steps > 0)]
        measured = 1000.0 / float(np.median(steps)) if len(steps) else 0.0
        header_ok = self.config.fps_in_range(self.fps)
        if header_ok and (measured == 0.0 or abs(measured - self.fps) <= 0.1 * self.fps):
            pass  # the header is confirmed (or cannot be checked: fewer than two frames)
        elif self.config.fps_in_range(measured):
            if self.fps > 0 and self.declared_frames is not None:
                self.declared_seconds = self.declared_frames / self.fps
            self.fps, self.declared_frames = measured, None
        else:
            claim = f"declares {self.fps:g} fps" if self.fps > 0 else "declares no frame rate"
            shows = f"its frame timestamps show {measured:.4g} fps" if measured > 0 else "its frames carry no timestamps"
            raise InvalidVideoError(
                self.name,
                f"{claim} and {shows}; frame rates outside {self.config.min_fps:g}-{self.config.max_fps:g} fps "
                "are refused (a damaged header?)",
            )
        self.capture = self.cv2.VideoCapture(os.fspath(path))

    def __iter__(self) -> Iterator[tuple[np.ndarray, int, int]]:
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok:
                    return
                if self.declared_seconds is not None:
                    self.last_seconds = self.capture.get(self.cv2.CAP_PROP_POS_MSEC) / 1000.0
                frame, width, height = _fit(self.cv2, frame, self.config, self.name)
                yield self.cv2.cvtColor(frame, self.cv2.COLOR_BGR2RGB), width, height
        finally:
            self.capture.release()


class _ArrayFrames:
    def __init__(self, frames: np.ndarray, config: VideoConfig, name: str):
        self.frames, self.config, self.name = frames, config, name
        self.fps, self.declared_frames = config.array_fps, len(frames)
        self.declared_seconds, self.last_seconds = None, None

    def __iter__(self) -> Iterator[tuple[np.ndarray, int, int]]:
        cv2, _ = _video_stack()
        for frame in self.frames:
            frame, width, height = _fit(cv2, frame, self.config, self.name)
            yield np.ascontiguousarray(frame), width, height


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

    config.check_fps(frames.fps, name)
    declared = frames.declared_frames
    if frames.declared_seconds is not None and config.max_seconds is not None:
        if frames.declared_seconds > config.max_seconds:
            raise VideoTooLongError(name, f"{frames.declared_seconds:.1f} s long; the limit is {config.max_seconds:g} s")
    duration_limit = _duration_frames(config, frames.fps)
    frame_limit = config.frame_limit()
    if duration_limit is not None and declared is not None and declared > duration_limit:
        raise VideoTooLongError(name, f"{declared / frames.fps:.1f} s long; the limit is {config.max_seconds:g} s")
    if frame_limit is not None and declared is not None and declared > frame_limit:
        raise VideoTooLongError(name, f"declares {declared} frames; {_frame_limit_text(config)}")
    time_limit = config.time_limit()
    deadline = None if time_limit is None else time.monotonic() + time_limit
    num_points = sum(len(c.points) for c in holistic.holistic_components("XYZC", 0))
    scratch = [scratch_path(output, part) for part in ("data", "conf", "pose")]
    model = holistic.mp_holistic.Holistic(**HOLISTIC_SETTINGS)
    count, person, size = 0, False, None
    data = np.empty((_CHUNK_FRAMES, num_points, 3), np.float32)
    conf = np.empty((_CHUNK_FRAMES, num_points), np.float32)
    try:
        with open(scratch[0], "wb") as data_file, open(scratch[1], "wb") as conf_file:
            for frame, width, height in frames:
                if size is None:
                    size = width, height
                if duration_limit is not None and count >= duration_limit:
                    raise VideoTooLongError(name, f"more than {config.max_seconds:g} s long (the limit)")
                if frame_limit is not None and count >= frame_limit:
                    raise VideoTooLongError(name, f"more than {frame_limit} frames; {_frame_limit_text(config)}")
                if deadline is not None and time.monotonic() > deadline:
                    raise VideoTooLongError(
                        name, f"extraction stopped after {count} frames: it ran past the {time_limit:g} s time limit"
                    )
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
        # OpenCV reports the container's own frame count (the bundled MP4: 58 declared, 58 decoded); one
        # frame of slack covers a count estimated from the duration. Anything more is a truncated file.
        if declared is not None and declared - count > 1:
            raise UnreadableVideoError(
                name, f"truncated or damaged: the container declares {declared} frames, only {count} could be decoded"
            )
        # variable frame rate: the declared duration against the last decoded frame's timestamp (+ one frame)
        if frames.declared_seconds is not None and frames.last_seconds is not None:
            decoded_seconds = frames.last_seconds + 1.0 / frames.fps
            if frames.declared_seconds - decoded_seconds > 2.0 / frames.fps:
                raise UnreadableVideoError(
                    name,
                    f"truncated or damaged: the container declares {frames.declared_seconds:.2f} s, "
                    f"frames could be decoded up to {decoded_seconds:.2f} s",
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


def _duration_frames(config: VideoConfig, fps: float) -> int | None:
    """Most frames allowed by `max_seconds` at the video's (checked) frame rate."""
    return None if config.max_seconds is None else math.floor(config.max_seconds * fps + 1e-6)


def _frame_limit_text(config: VideoConfig) -> str:
    if config.max_frames is not None:
        return f"the limit is {config.frame_limit()} frames"
    return f"the limit is {config.max_seconds:g} s at up to {ASSUMED_MAX_FPS:g} fps ({config.frame_limit()} frames)"


def _check_cached_duration(path: Path, config: VideoConfig, name: str) -> None:
    """The limits apply to cache hits too: frames and fps are read from the `.pose` header."""
    from pose_format.pose_header import PoseHeader
    from pose_format.utils.reader import BufferReader, ConstStructs

    with open(path, "rb") as handle:
        reader = BufferReader(handle.read(256 * 1024))  # a holistic header is ~14 KB
    header = PoseHeader.read(reader)
    fps, count = reader.unpack(ConstStructs.float), reader.unpack(ConstStructs.uint)
    config.check_fps(fps, name)
    config.check_size(header.dimensions.width, header.dimensions.height, name)
    duration_limit, frame_limit = _duration_frames(config, fps), config.frame_limit()
    if duration_limit is not None and count > duration_limit:
        raise VideoTooLongError(name, f"{count / fps:.1f} s long; the limit is {config.max_seconds:g} s")
    if frame_limit is not None and count > frame_limit:
        raise VideoTooLongError(name, f"{count} frames; {_frame_limit_text(config)}")


def scratch_path(path: str | os.PathLike, part: str = "part") -> Path:
    """This process's scratch name for `path` (same folder, so the final rename is atomic)."""
    path = Path(path)
    return path.with_name(f"{SCRATCH_PREFIX}{os.getpid()}-{path.name}.{part}.tmp")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: leave its files alone
    return True


def remove_stale_scratch(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete the scratch files (`.signclip-<pid>-*.tmp`) under `folder` whose process no longer runs.

    Only names this module writes are touched; the files of a run still in progress are kept."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.rglob(f"{SCRATCH_PREFIX}*.tmp") if recursive else folder.glob(f"{SCRATCH_PREFIX}*.tmp"):
        match = _SCRATCH.match(path.name)
        if match and not path.is_symlink() and path.is_file() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _atomic_write_bytes(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = scratch_path(path)
    scratch.write_bytes(content)
    os.replace(scratch, path)


_ERRORS = {
    cls.__name__: cls
    for cls in (InvalidVideoError, UnreadableVideoError, NoPersonError, VideoTooLongError, VideoTooLargeError)
}

__all__ = [
    "VideoConfig",
    "InvalidVideoError",
    "UnreadableVideoError",
    "NoPersonError",
    "VideoTooLongError",
    "VideoTooLargeError",
    "ASSUMED_MAX_FPS",
    "HOLISTIC_SETTINGS",
    "VIDEO_EXTENSIONS",
    "is_video",
    "as_pose_source",
    "video_pose_source",
    "video_to_pose",
    "write_pose",
    "cached_pose_path",
    "default_cache_dir",
    "remove_stale_scratch",
    "scratch_path",
]
