"""Reading `.pose` files (pose-format) for SignCLIP: bounds-checked headers, then the layout's keypoints.

pose-format trusts a file's header and allocates what it declares, so a damaged or hostile file could make it
allocate gigabytes or read garbage; here the header and body sizes are checked first (pose-format
`PoseHeader.read` and `NumPyPoseBody.read_v0_*`, versions 0.0-0.2), then pose-format parses the file.
`pose_format` is imported lazily (only for reading files) so that this module travels to the Hub as remote code.
"""

from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Union

import numpy as np

from .keypoints_signclip import KEYPOINT_LAYOUTS, CorruptPoseError, EmptyPoseError, InvalidPoseError, PoseLayoutError

PoseInput = Union[str, os.PathLike, bytes, np.ndarray, Any]  # Any: a pose_format.Pose
# (component name, point names, point format) per component, as a `.pose` header declares them
HeaderComponents = tuple[tuple[str, tuple[str, ...], str], ...]
# flat point indices into the file's points and coordinate dims (X, Y, Z), or why the file does not fit
LayoutSelection = Union[tuple[np.ndarray, np.ndarray], str]


def describe_pose_input(source: PoseInput) -> str:
    """How errors name an input: its path, or its kind and size."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes of .pose data>"
    return f"<{type(source).__name__}>"


def layout_selection(components: HeaderComponents, layout_name: str) -> LayoutSelection:
    """Where the layout's keypoints are among a header's points, or the reason the file does not fit."""
    layout = KEYPOINT_LAYOUTS[layout_name]
    offsets, formats, lookup = {}, {}, {}
    offset = 0
    for name, points, fmt in components:
        offsets[name], formats[name] = offset, fmt
        lookup[name] = {p: i for i, p in enumerate(points)}
        offset += len(points)
    indices, problems = [], []
    for name, points in layout.components:
        if name not in lookup:
            problems.append(f"no {name} component")
            continue
        missing = [p for p in points if p not in lookup[name]]
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            problems.append(f"{name} lacks {len(missing)} of the {len(points)} points needed ({shown})")
            continue
        indices.extend(offsets[name] + lookup[name][p] for p in points)
    if problems:
        found = ", ".join(f"{name} ({len(points)} points, {fmt})" for name, points, fmt in components)
        return (
            f"keypoint layout does not fit the {layout_name!r} layout: {'; '.join(problems)}. "
            f"The file has: {found}. Convert it to MediaPipe Holistic or choose a keypoint_layout it has."
        )
    fmt = formats[layout.components[0][0]]
    coords = [c for c in fmt if c != "C"]
    if not {"X", "Y", "Z"} <= set(coords):
        return f"points are {fmt!r}; SignCLIP needs 3D (X, Y, Z) coordinates"
    return np.asarray(indices, dtype=np.int64), np.asarray([coords.index(c) for c in "XYZ"], dtype=np.int64)


# Bounds on what a header may declare, checked before pose-format builds a Python object per point name and
# limb (real layouts: MediaPipe Holistic has 5 components, 576 points, 2,668 limbs).
MAX_HEADER_COMPONENTS = 64
MAX_HEADER_POINTS = 16_384
MAX_HEADER_LIMBS = 16_384
MAX_HEADER_NAME_BYTES = 256
# A v0.0 frame without a person takes 2 bytes but becomes a full frame of zeros: cap the expansion.
MAX_V0_0_EXPANSION = 8

_USHORT, _TRIPLE_USHORT, _FLOAT = struct.Struct("<H"), struct.Struct("<HHH"), struct.Struct("<f")
_V0_2_COUNTS = struct.Struct("<fIH")  # fps, frames, people


@dataclass(frozen=True)
class PoseFileHeader:
    """What a `.pose` header declares (pose-format `PoseHeader.read`, versions 0.0-0.2), read with bounds."""

    raw: bytes  # the header bytes: a file that starts with them has this same header
    version: float
    components: HeaderComponents
    values_per_point: int  # coordinates + confidence (pose-format `PoseHeader.num_dims() + 1`)
    _selections: dict[str, LayoutSelection] = field(default_factory=dict, compare=False, repr=False)

    @property
    def points(self) -> int:  # over all components
        return sum(len(points) for _, points, _ in self.components)

    @property
    def same_format(self) -> bool:  # every component has the same point format (pose-format's v0.0 reader needs it)
        return len({fmt for _, _, fmt in self.components}) == 1

    def selection(self, layout_name: str) -> LayoutSelection:
        """`layout_selection` for this header, computed once per layout (a dataset's files share one header)."""
        if layout_name not in self._selections:
            self._selections[layout_name] = layout_selection(self.components, layout_name)
        return self._selections[layout_name]


class _HeaderReader:
    """Bounds-checked little-endian reads over the file bytes (no allocation beyond what is read)."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name, self.offset = data, name, 0

    def fail(self, problem: str) -> CorruptPoseError:
        return CorruptPoseError(self.name, f"not a readable .pose file (damaged header): {problem}")

    def unpack(self, layout: struct.Struct, what: str) -> tuple:
        if self.offset + layout.size > len(self.data):
            raise self.fail(f"the file ends ({len(self.data):,} bytes) inside the {what}")
        values = layout.unpack_from(self.data, self.offset)
        self.offset += layout.size
        return values

    def skip(self, size: int, what: str) -> None:
        if self.offset + size > len(self.data):
            raise self.fail(f"the file ends ({len(self.data):,} bytes) inside the {what}")
        self.offset += size

    def string(self, what: str) -> str:
        (length,) = self.unpack(_USHORT, what)
        if length > MAX_HEADER_NAME_BYTES:
            raise self.fail(f"a {what} of {length:,} bytes (at most {MAX_HEADER_NAME_BYTES})")
        start = self.offset
        self.skip(length, what)
        try:
            return self.data[start : self.offset].decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"a {what} that is not UTF-8 text (byte {start})") from None


_RECENT_FILE_HEADERS: list[PoseFileHeader] = []


def read_pose_file_header(data: bytes, name: str) -> PoseFileHeader:
    """Check a `.pose` header against the file size and sane limits before pose-format allocates anything.

    Refuses unknown versions, counts of components / points / limbs beyond the limits above, names longer than
    `MAX_HEADER_NAME_BYTES`, and repeated component or point names (pose-format would silently use one copy).
    The last few headers are remembered by their bytes, with their layout selections (this module's one header
    cache): a dataset's files share one header.
    """
    for header in _RECENT_FILE_HEADERS:
        if data.startswith(header.raw):
            return header
    reader = _HeaderReader(data, name)
    (version,) = reader.unpack(_FLOAT, "version")
    if not (version == 0 or round(version, 3) in (0.1, 0.2)):
        raise reader.fail(f"unknown pose-format version {version!r} (known: 0.0, 0.1, 0.2)")
    reader.unpack(_TRIPLE_USHORT, "dimensions")
    (count,) = reader.unpack(_USHORT, "component count")
    if not 0 < count <= MAX_HEADER_COMPONENTS:
        raise reader.fail(f"{count:,} components (expected 1 to {MAX_HEADER_COMPONENTS})")
    components, points, limbs = [], 0, 0
    for _ in range(count):
        component = reader.string("component name")
        if any(component == seen for seen, _, _ in components):
            raise reader.fail(f"component {component!r} appears twice")
        point_format = reader.string(f"{component} point format")
        num_points, num_limbs, num_colors = reader.unpack(_TRIPLE_USHORT, f"{component} counts")
        points, limbs = points + num_points, limbs + num_limbs
        if points > MAX_HEADER_POINTS or limbs > MAX_HEADER_LIMBS:
            raise reader.fail(
                f"{points:,} points and {limbs:,} limbs declared by component {component!r} "
                f"(at most {MAX_HEADER_POINTS:,} and {MAX_HEADER_LIMBS:,})"
            )
        names = [reader.string(f"{component} point name") for _ in range(num_points)]
        if len(set(names)) != num_points:
            repeated = next(p for i, p in enumerate(names) if p in names[:i])
            raise reader.fail(f"point {repeated!r} appears twice in component {component!r}")
        components.append((component, tuple(names), point_format))
        reader.skip(4 * num_limbs + 6 * num_colors, f"{component} limbs and colors")
    if points == 0:
        raise reader.fail("no keypoints declared")
    header = PoseFileHeader(
        raw=bytes(data[: reader.offset]),
        version=0.0 if version == 0 else round(version, 3),
        components=tuple(components),
        values_per_point=max(len(fmt) for _, _, fmt in components),
    )
    if len(_RECENT_FILE_HEADERS) >= 8:
        _RECENT_FILE_HEADERS.pop(0)
    _RECENT_FILE_HEADERS.append(header)
    return header


def _check_body(data: bytes, header: PoseFileHeader, name: str) -> None:
    """The body must hold exactly what the header promises (pose-format `read_v0_1`/`read_v0_2` trust it)."""
    person_bytes = header.points * header.values_per_point * 4  # float32 coordinates, then confidences
    if header.version == 0.2:
        layout, frame_modulus = _V0_2_COUNTS, None
    else:  # v0.1 stores a 16-bit frame count; pose-format infers the true count from the body size
        layout, frame_modulus = _TRIPLE_USHORT, 1 << 16
    if len(data) < len(header.raw) + layout.size:
        raise CorruptPoseError(name, "truncated: the file ends before the body's fps, frame and person counts")
    fps, frames, people = layout.unpack_from(data, len(header.raw))
    if people == 0:
        raise EmptyPoseError(name, "the file holds no person (people = 0)")
    if not (math.isfinite(fps) and fps >= 0):
        raise CorruptPoseError(name, f"damaged body: fps is {fps}")
    body = len(data) - len(header.raw) - layout.size
    frame_bytes = people * person_bytes
    found = body // frame_bytes if frame_modulus else frames
    if body != found * frame_bytes or (frame_modulus and found % frame_modulus != frames):
        raise CorruptPoseError(
            name,
            f"truncated or damaged: the header declares {frames:,} frames × {people} people × {header.points} points "
            f"× {header.values_per_point} values ({frames * frame_bytes:,} body bytes) but the body has {body:,} bytes",
        )


def _read_v0_0_body(data: bytes, header: PoseFileHeader, name: str):
    """pose-format `NumPyPoseBody.read_v0_0` (first person per frame, zeros without one), with bounded memory."""
    if not header.same_format:
        raise CorruptPoseError(name, "v0.0 file whose components have different point formats")
    values = header.points * header.values_per_point
    person_bytes = 2 + 4 * values  # person id, then float32 values
    reader = _HeaderReader(data, name)
    reader.offset = len(header.raw)
    fps, frames = reader.unpack(struct.Struct("<HH"), "body's fps and frame count")
    starts = []  # byte offset of each frame's first person (None: no person)
    for _ in range(frames):
        (people,) = reader.unpack(_USHORT, "person count of a frame")
        starts.append(reader.offset + 2 if people else None)
        reader.skip(people * person_bytes, "frame data")
    if reader.offset != len(data):
        raise CorruptPoseError(
            name, f"damaged: {len(data) - reader.offset:,} bytes after the last of {frames:,} frames"
        )
    if frames * values * 4 > MAX_V0_0_EXPANSION * len(data):
        raise CorruptPoseError(
            name,
            f"{frames:,} frames × {header.points:,} points would take {frames * values * 4:,} bytes in memory "
            f"from a {len(data):,}-byte file (frames without a person; at most {MAX_V0_0_EXPANSION}× the file size)",
        )
    array = np.zeros((frames, 1, header.points, header.values_per_point), dtype=np.float32)
    for frame, start in enumerate(starts):
        if start is not None:
            array[frame, 0] = np.frombuffer(data, "<f4", values, start).reshape(header.points, -1)
    return _unmasked_body_class()(fps, array[..., :-1], np.ascontiguousarray(array[..., -1]))


def load_pose(source: PoseInput, name: str | None = None):
    """A `.pose` path, bytes or file object -> `pose_format.Pose` (first person only for v0.0), checked first.

    A `pose_format.Pose` is returned as is. Damaged input raises `CorruptPoseError` / `EmptyPoseError`.
    """
    return _read_pose(source, name or describe_pose_input(source))[0]


def read_keypoints(source: PoseInput, layout_name: str = "holistic", name: str | None = None):
    """Read one clip as the layout's raw keypoints.

    Returns (points (T, K, 3) float32, confidence (T, K) float32, fps). Missing points have
    confidence 0. Paths, bytes and `pose_format.Pose` objects are accepted; the first person is used.
    """
    name = name or describe_pose_input(source)
    pose, header = _read_pose(source, name)
    if header is not None:
        selection = header.selection(layout_name)
    else:  # a Pose object: no header bytes to look up
        components = tuple((c.name, tuple(c.points), c.format) for c in pose.header.components)
        selection = layout_selection(components, layout_name)
    if isinstance(selection, str):
        raise PoseLayoutError(name, selection)
    point_index, dims = selection
    data = np.asarray(pose.body.data.data if np.ma.isMaskedArray(pose.body.data) else pose.body.data)
    if data.shape[0] == 0:
        raise EmptyPoseError(name, "the clip has zero frames")
    # np.take keeps frames outermost (C order); fancy indexing would put the points axis first in memory
    points = np.take(data[:, 0], point_index, axis=1)
    points = np.ascontiguousarray(points[..., :3] if np.array_equal(dims, (0, 1, 2)) else points[..., dims], np.float32)
    confidence = np.take(np.asarray(pose.body.confidence)[:, 0], point_index, axis=1).astype(np.float32, copy=False)
    if not (np.minimum.reduce(confidence, axis=None) >= 0 and np.maximum.reduce(confidence, axis=None) <= 1):  # NaN too
        bad = np.nonzero(~((confidence >= 0) & (confidence <= 1)))
        raise CorruptPoseError(
            name,
            f"confidence {confidence[bad][0]} outside [0, 1] at frame {bad[0][0]} (damaged file or another format)",
        )
    return points, confidence, float(pose.body.fps)


def _read_pose(source: PoseInput, name: str):
    """(`pose_format.Pose`, its checked `PoseFileHeader`, None for a `Pose` given as is)."""
    from pose_format import Pose  # lazy: remote-code users need pose-format only to read files

    if isinstance(source, Pose):
        return source, None
    if isinstance(source, (str, os.PathLike)):
        if os.path.isdir(source):
            raise CorruptPoseError(name, "is a directory, not a .pose file")
        with open(source, "rb") as handle:
            source = handle.read()
    if isinstance(source, io.IOBase):
        source = source.read()
    if not isinstance(source, (bytes, bytearray)):
        raise TypeError(f"{name}: expected a path, bytes, a pose_format.Pose or an array, got {type(source).__name__}")
    if len(source) == 0:
        raise CorruptPoseError(name, "the file is empty (0 bytes)")
    data = bytes(source)
    header = read_pose_file_header(data, name)
    if header.version != 0.0:
        _check_body(data, header, name)
    try:
        if header.version == 0.0:
            from pose_format.pose_header import PoseHeader
            from pose_format.utils.reader import BufferReader

            return Pose(PoseHeader.read(BufferReader(data)), _read_v0_0_body(data, header, name)), header
        return Pose.read(data, pose_body=_unmasked_body_class()), header
    except InvalidPoseError:
        raise
    except Exception as error:  # pose-format raises struct/Value/Index/Unicode errors on bad bytes
        raise CorruptPoseError(
            name, f"not a readable .pose file (truncated or another format): {type(error).__name__}: {error}"
        ) from None


@lru_cache(maxsize=1)
def _unmasked_body_class():
    """pose-format's numpy body without the masked array it builds on reading (we use `confidence`)."""
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_body import PoseBody

    class UnmaskedPoseBody(NumPyPoseBody):
        def __init__(self, fps: float, data: np.ndarray, confidence: np.ndarray):
            PoseBody.__init__(self, fps, data, confidence)

    return UnmaskedPoseBody


__all__ = [
    "PoseFileHeader",
    "describe_pose_input",
    "layout_selection",
    "load_pose",
    "read_keypoints",
    "read_pose_file_header",
]
