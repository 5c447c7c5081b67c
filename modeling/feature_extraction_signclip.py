"""Pose preprocessing for SignCLIP: `.pose` files (pose-format) -> per-frame feature vectors.

As the released SignCLIP (Jiang et al., EMNLP 2024; fairseq examples/MMPT) preprocesses MediaPipe Holistic poses.

A clip becomes a (frames, 3 × keypoints) float32 array: the layout's keypoints selected *by name*,
normalized by the shoulders over the whole clip, legs hidden, missing points 0. Everything is
vectorized over frames; `pose_format` is imported lazily (only for reading files) so that this module
travels to the Hub as remote code.
"""

from __future__ import annotations

import io
import math
import os
import struct
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any, Sequence, Union

import numpy as np
from transformers.feature_extraction_utils import BatchFeature, FeatureExtractionMixin

from .configuration_signclip import LONG_CLIP_POLICIES, select_frame_indices

BODY_POINTS = (
    "NOSE", "LEFT_EYE_INNER", "LEFT_EYE", "LEFT_EYE_OUTER", "RIGHT_EYE_INNER", "RIGHT_EYE", "RIGHT_EYE_OUTER",
    "LEFT_EAR", "RIGHT_EAR", "MOUTH_LEFT", "MOUTH_RIGHT", "LEFT_SHOULDER", "RIGHT_SHOULDER", "LEFT_ELBOW",
    "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_PINKY", "RIGHT_PINKY", "LEFT_INDEX", "RIGHT_INDEX",
    "LEFT_THUMB", "RIGHT_THUMB", "LEFT_HIP", "RIGHT_HIP", "LEFT_KNEE", "RIGHT_KNEE", "LEFT_ANKLE", "RIGHT_ANKLE",
    "LEFT_HEEL", "RIGHT_HEEL", "LEFT_FOOT_INDEX", "RIGHT_FOOT_INDEX",
)  # fmt: skip
HAND_POINTS = (
    "WRIST", "THUMB_CMC", "THUMB_MCP", "THUMB_IP", "THUMB_TIP", "INDEX_FINGER_MCP", "INDEX_FINGER_PIP",
    "INDEX_FINGER_DIP", "INDEX_FINGER_TIP", "MIDDLE_FINGER_MCP", "MIDDLE_FINGER_PIP", "MIDDLE_FINGER_DIP",
    "MIDDLE_FINGER_TIP", "RING_FINGER_MCP", "RING_FINGER_PIP", "RING_FINGER_DIP", "RING_FINGER_TIP",
    "PINKY_MCP", "PINKY_PIP", "PINKY_DIP", "PINKY_TIP",
)  # fmt: skip
# MediaPipe FACEMESH_CONTOURS point indices, sorted ascending (128 points), as names in the .pose header.
FACE_CONTOUR_POINTS = tuple(str(i) for i in (
    0, 7, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80, 81, 82, 84,
    87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155,
    157, 158, 159, 160, 161, 162, 163, 172, 173, 176, 178, 181, 185, 191, 234, 246, 249, 251, 263, 267, 269, 270,
    276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324,
    332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388,
    389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466,
))  # fmt: skip
LEG_POINTS = BODY_POINTS[25:]  # knees, ankles, heels, foot indices: hidden, as in the original


class InvalidPoseError(ValueError):
    """A pose input that cannot become features; the message names the input and the problem."""

    def __init__(self, source: str, problem: str):
        self.source, self.problem = source, problem
        super().__init__(f"{source}: {problem}")


class CorruptPoseError(InvalidPoseError):
    """Not a readable `.pose` file (truncated, another format, garbage bytes)."""


class EmptyPoseError(InvalidPoseError):
    """A clip with zero frames, or a file that holds no person."""


class PoseLayoutError(InvalidPoseError):
    """The file's keypoint layout lacks components or points that the configured layout needs."""


class NonFinitePoseError(InvalidPoseError):
    """NaN or infinite coordinates on observed points, or coordinates so large that the features overflow."""


class DegeneratePoseError(InvalidPoseError):
    """Normalization is impossible (no frame where both shoulders are seen, or they coincide)."""


@dataclass(frozen=True)
class KeypointLayout:
    """Which keypoints become features, and how they are normalized.

    `components` are (component name, point names) in feature order; `shoulders` the two
    (component, point) pairs whose midpoint/distance normalize the clip (None: no normalization);
    `hidden` points are zeroed; `mirror_pairs` name the components/points swapped by a mirror.
    """

    components: tuple[tuple[str, tuple[str, ...]], ...]
    shoulders: tuple[tuple[str, str], tuple[str, str]] | None = None
    hidden: tuple[tuple[str, str], ...] = ()

    @property
    def num_points(self) -> int:
        return sum(len(points) for _, points in self.components)

    @property
    def feature_dim(self) -> int:
        return 3 * self.num_points

    def flat_index(self, component: str, point: str) -> int:
        offset = 0
        for name, points in self.components:
            if name == component:
                return offset + points.index(point)
            offset += len(points)
        raise KeyError(f"{component}/{point} is not in this layout")

    @cached_property
    def shoulder_indices(self) -> tuple[int, int] | None:
        return None if self.shoulders is None else tuple(self.flat_index(*p) for p in self.shoulders)

    @cached_property
    def kept_points(self) -> np.ndarray:
        """(K,) bool: False for the hidden points."""
        kept = np.ones(self.num_points, dtype=bool)
        kept[[self.flat_index(*p) for p in self.hidden]] = False
        return kept

    def mirror_permutation(self) -> np.ndarray:
        """Point permutation that swaps left and right (hands, and LEFT_*/RIGHT_* body points).

        Face contour points keep their place (their left/right pairing is not named in the file).
        """
        permutation = np.arange(self.num_points)
        names = [(c, p) for c, points in self.components for p in points]
        position = {name: i for i, name in enumerate(names)}
        for i, (component, point) in enumerate(names):
            swapped = (_swap_side(component), _swap_side(point))
            if swapped in position:
                permutation[i] = position[swapped]
        return permutation


def _swap_side(name: str) -> str:
    if "LEFT" in name:
        return name.replace("LEFT", "RIGHT")
    return name.replace("RIGHT", "LEFT")


KEYPOINT_LAYOUTS: dict[str, KeypointLayout] = {
    # The released SignCLIP: 33 body + 128 face contour + 2 × 21 hand points = 203 points, 609 features.
    "holistic": KeypointLayout(
        components=(
            ("POSE_LANDMARKS", BODY_POINTS),
            ("FACE_LANDMARKS", FACE_CONTOUR_POINTS),
            ("LEFT_HAND_LANDMARKS", HAND_POINTS),
            ("RIGHT_HAND_LANDMARKS", HAND_POINTS),
        ),
        shoulders=(("POSE_LANDMARKS", "RIGHT_SHOULDER"), ("POSE_LANDMARKS", "LEFT_SHOULDER")),
        hidden=tuple(("POSE_LANDMARKS", p) for p in LEG_POINTS),
    ),
    # FingerCLIP (Jiang et al., EMNLP 2024): right hand only, 63 features, not normalized.
    "right_hand": KeypointLayout(components=(("RIGHT_HAND_LANDMARKS", HAND_POINTS),)),
}

PoseInput = Union[str, os.PathLike, bytes, np.ndarray, Any]  # Any: a pose_format.Pose


@lru_cache(maxsize=64)
def _header_selection(
    layout_name: str, header_key: tuple[tuple[str, tuple[str, ...], str], ...]
) -> tuple[np.ndarray, np.ndarray] | str:
    """(flat point indices into the file's points, coordinate dims) or the reason the file does not fit."""
    layout = KEYPOINT_LAYOUTS[layout_name]
    offsets, formats, lookup = {}, {}, {}
    offset = 0
    for name, points, fmt in header_key:
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
        found = ", ".join(f"{name} ({len(points)} points, {fmt})" for name, points, fmt in header_key)
        return (
            f"keypoint layout does not fit the {layout_name!r} layout: {'; '.join(problems)}. "
            f"The file has: {found}. Convert it to MediaPipe Holistic or choose a keypoint_layout it has."
        )
    fmt = formats[layout.components[0][0]]
    coords = [c for c in fmt if c != "C"]
    if not {"X", "Y", "Z"} <= set(coords):
        return f"points are {fmt!r}; SignCLIP needs 3D (X, Y, Z) coordinates"
    return np.asarray(indices, dtype=np.int64), np.asarray([coords.index(c) for c in "XYZ"], dtype=np.int64)


_RECENT_HEADERS: dict[int, tuple[Any, dict]] = {}


def _selection_for(header, layout_name: str):
    """`_header_selection` for a header object, remembered per object.

    pose-format hands back the same cached header object for files whose header bytes are identical
    (a whole dataset, typically), so this skips re-keying ~600 point names per clip. The header is kept
    referenced beside its id, so a recycled id can never match another header.
    """
    cached = _RECENT_HEADERS.get(id(header))
    if cached is None or cached[0] is not header:
        if len(_RECENT_HEADERS) >= 16:
            _RECENT_HEADERS.clear()
        cached = _RECENT_HEADERS[id(header)] = (header, {})
    by_layout = cached[1]
    if layout_name not in by_layout:
        key = tuple((c.name, tuple(c.points), c.format) for c in header.components)
        by_layout[layout_name] = _header_selection(layout_name, key)
    return by_layout[layout_name]


def read_keypoints(source: PoseInput, layout_name: str = "holistic", name: str | None = None):
    """Read one clip as the layout's raw keypoints.

    Returns (points (T, K, 3) float32, confidence (T, K) float32, fps). Missing points have
    confidence 0. Paths, bytes and `pose_format.Pose` objects are accepted; the first person is used.
    """
    name = name or _describe(source)
    pose = _load_pose(source, name)
    selection = _selection_for(pose.header, layout_name)
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
            name, f"confidence {confidence[bad][0]} outside [0, 1] at frame {bad[0][0]} (damaged file or another format)"
        )
    return points, confidence, float(pose.body.fps)


def _describe(source: PoseInput) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes of .pose data>"
    return f"<{type(source).__name__}>"


@lru_cache(maxsize=1)
def _unmasked_body_class():
    """pose-format's numpy body without the masked array it builds on reading (we use `confidence`)."""
    from pose_format.numpy import NumPyPoseBody
    from pose_format.pose_body import PoseBody

    class UnmaskedPoseBody(NumPyPoseBody):
        def __init__(self, fps: float, data: np.ndarray, confidence: np.ndarray):
            PoseBody.__init__(self, fps, data, confidence)

    return UnmaskedPoseBody


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
    points: int  # over all components
    values_per_point: int  # coordinates + confidence (pose-format `PoseHeader.num_dims() + 1`)
    same_format: bool  # every component has the same point format (pose-format's v0.0 reader needs it)


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
    The last few headers are remembered by their bytes: a dataset's files share one header.
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
    components, formats, points, limbs = set(), set(), 0, 0
    for _ in range(count):
        component = reader.string("component name")
        if component in components:
            raise reader.fail(f"component {component!r} appears twice")
        components.add(component)
        point_format = reader.string(f"{component} point format")
        formats.add(point_format)
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
        reader.skip(4 * num_limbs + 6 * num_colors, f"{component} limbs and colors")
    if points == 0:
        raise reader.fail("no keypoints declared")
    header = PoseFileHeader(
        raw=bytes(data[: reader.offset]),
        version=0.0 if version == 0 else round(version, 3),
        points=points,
        values_per_point=max(len(f) for f in formats),
        same_format=len(formats) == 1,
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
        raise CorruptPoseError(name, f"damaged: {len(data) - reader.offset:,} bytes after the last of {frames:,} frames")
    if frames * values * 4 > MAX_V0_0_EXPANSION * len(data):
        raise CorruptPoseError(
            name, f"{frames:,} frames × {header.points:,} points would take {frames * values * 4:,} bytes in memory "
            f"from a {len(data):,}-byte file (frames without a person; at most {MAX_V0_0_EXPANSION}× the file size)",
        )
    array = np.zeros((frames, 1, header.points, header.values_per_point), dtype=np.float32)
    for frame, start in enumerate(starts):
        if start is not None:
            array[frame, 0] = np.frombuffer(data, "<f4", values, start).reshape(header.points, -1)
    return _unmasked_body_class()(fps, array[..., :-1], np.ascontiguousarray(array[..., -1]))


def _load_pose(source: PoseInput, name: str):
    from pose_format import Pose  # lazy: remote-code users need pose-format only to read files

    if isinstance(source, Pose):
        return source
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

            return Pose(PoseHeader.read(BufferReader(data)), _read_v0_0_body(data, header, name))
        return Pose.read(data, pose_body=_unmasked_body_class())
    except InvalidPoseError:
        raise
    except Exception as error:  # pose-format raises struct/Value/Index/Unicode errors on bad bytes
        raise CorruptPoseError(
            name, f"not a readable .pose file (truncated or another format): {type(error).__name__}: {error}"
        ) from None


def keypoints_to_features(
    points: np.ndarray, confidence: np.ndarray, layout_name: str = "holistic", name: str = "<array>"
) -> np.ndarray:
    """The original's preprocessing on raw keypoints: (T, K, 3) + (T, K) confidence -> (T, 3K) float32 features.

    Normalization is pose-format's `Pose.normalize` (called by the original, fairseq examples/MMPT): subtract
    the mean shoulder midpoint and divide by the mean 3D shoulder distance, both over the frames where both
    shoulders are seen (its masked means skip frames with a missing shoulder). Features that overflow float32
    are refused (`NonFinitePoseError`), so the result is always finite.
    """
    layout = KEYPOINT_LAYOUTS[layout_name]
    if points.ndim != 3 or points.shape[1:] != (layout.num_points, 3):
        raise PoseLayoutError(
            name, f"expected keypoints of shape (frames, {layout.num_points}, 3) for the {layout_name!r} layout, "
            f"got {tuple(points.shape)}",
        )
    if points.shape[0] == 0:
        raise EmptyPoseError(name, "the clip has zero frames")
    observed = confidence > 0
    # work on (T, 3K) rows: broadcasting a (T, K, 1) mask over the last axis of 3 runs numpy's slow path
    keep = np.repeat(observed & layout.kept_points, 3, axis=1)  # missing and hidden points end up exactly 0
    flat = points.reshape(len(points), -1)
    if layout.shoulder_indices is None:
        return _finite(np.where(keep, flat, np.float32(0)), points, observed, name)
    right, left = layout.shoulder_indices
    both = observed[:, right] & observed[:, left]
    if not both.any():
        raise DegeneratePoseError(name, "no frame has both shoulders; shoulder normalization is impossible")
    right_xyz, left_xyz = points[:, right].astype(np.float64), points[:, left].astype(np.float64)
    center = ((right_xyz + left_xyz)[both] / 2).mean(axis=0)
    distance = np.sqrt(((right_xyz - left_xyz)[both] ** 2).sum(axis=-1)).mean()
    if not distance > 0:
        if np.isnan(distance):
            _refuse_non_finite(points, observed, name)
        raise DegeneratePoseError(name, "the shoulders coincide in every frame (shoulder distance 0)")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is refused just below
        normalized = (flat - np.tile(center.astype(np.float32), layout.num_points)) * np.float32(1 / distance)
    return _finite(np.where(keep, normalized, np.float32(0)), points, observed, name)


def batch_keypoints_to_features(
    clips: Sequence[tuple[np.ndarray, np.ndarray, str]], layout_name: str = "holistic"
) -> list[np.ndarray]:
    """`keypoints_to_features` for many (points, confidence, name) clips with one set of numpy calls.

    The same normalization per clip (segment sums over the concatenated frames); a clip that would be
    refused sends the whole batch through the per-clip function, which raises its specific error.
    """
    layout = KEYPOINT_LAYOUTS[layout_name]
    one_at_a_time = lambda: [keypoints_to_features(p, c, layout_name, n) for p, c, n in clips]  # noqa: E731
    shape = (layout.num_points, 3)
    if layout.shoulder_indices is None or any(p.ndim != 3 or p.shape[1:] != shape or not len(p) for p, _, _ in clips):
        return one_at_a_time()
    lengths = np.array([len(p) for p, _, _ in clips])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    points = np.concatenate([p for p, _, _ in clips])
    observed = np.concatenate([c for _, c, _ in clips]) > 0
    right, left = layout.shoulder_indices
    both = observed[:, right] & observed[:, left]
    right_xyz, left_xyz = points[:, right].astype(np.float64), points[:, left].astype(np.float64)
    count = np.add.reduceat(both, starts)
    with np.errstate(invalid="ignore"):  # non-finite shoulders: the per-clip function says why
        center = np.add.reduceat(np.where(both[:, None], (right_xyz + left_xyz) / 2, 0), starts) / np.maximum(count, 1)[:, None]
        distance = np.add.reduceat(np.where(both, np.sqrt(((right_xyz - left_xyz) ** 2).sum(axis=-1)), 0), starts)
        distance = distance / np.maximum(count, 1)
    if not ((count > 0) & (distance > 0)).all():
        return one_at_a_time()
    shift = np.repeat(np.tile(center.astype(np.float32), layout.num_points), lengths, axis=0)
    scale = np.repeat((1 / distance).astype(np.float32), lengths)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):
        normalized = (points.reshape(len(points), -1) - shift) * scale
    features = np.where(np.repeat(observed & layout.kept_points, 3, axis=1), normalized, np.float32(0))
    if not np.isfinite(np.add.reduce(features, axis=None)):
        return one_at_a_time()
    return np.split(features, starts[1:])


def _finite(features: np.ndarray, points: np.ndarray, observed: np.ndarray, name: str) -> np.ndarray:
    """The features, after one cheap check that they are finite (a sum is non-finite if any term is)."""
    if not np.isfinite(np.add.reduce(features, axis=None)) and not np.isfinite(features).all():
        _refuse_non_finite(points, observed, name, features)
    return features


def _refuse_non_finite(points: np.ndarray, observed: np.ndarray, name: str, features: np.ndarray | None = None):
    """Say why the features are not finite: NaN/inf on observed input points, or float32 overflow."""
    bad = observed & ~np.isfinite(points).all(axis=-1)
    if bad.any():
        frames = np.unique(np.nonzero(bad)[0])
        raise NonFinitePoseError(
            name, f"NaN or infinite coordinates on observed points in {len(frames)} frame(s), first frame {frames[0]}"
        )
    frame = 0 if features is None else int(np.nonzero(~np.isfinite(features).all(axis=1))[0][0])
    raise NonFinitePoseError(
        name, f"coordinates too large: the features overflow float32 (first at frame {frame}); check the file's units"
    )


def array_to_keypoints(array: np.ndarray, name: str = "<array>") -> tuple[np.ndarray, np.ndarray]:
    """A (T, K, 3) array in layout order -> (points, confidence); NaN or all-zero points count as missing."""
    array = np.asarray(array, dtype=np.float32)
    if np.isinf(array).any():
        raise NonFinitePoseError(name, "infinite coordinates in the array")
    missing = np.isnan(array).any(axis=-1) | (array == 0).all(axis=-1)
    return np.nan_to_num(array), (~missing).astype(np.float32)


def mirror_features(features: np.ndarray, layout_name: str = "holistic") -> np.ndarray:
    """Mirror (T, 3K) features: negate x and swap left/right points (missing points stay 0)."""
    layout = KEYPOINT_LAYOUTS[layout_name]
    points = features.reshape(features.shape[0], layout.num_points, 3)[:, layout.mirror_permutation()].copy()
    points[..., 0] *= -1
    return points.reshape(features.shape)


class SignCLIPFeatureExtractor(FeatureExtractionMixin):
    r"""Turns pose clips into `pose_values` (batch, frames, features) and `pose_attention_mask`.

    Args:
        keypoint_layout: a key of `KEYPOINT_LAYOUTS` ("holistic": 203 points / 609 features, as released).
        max_frames: longest clip the model sees; longer clips follow `long_clip_policy`.
        long_clip_policy: "subsample" (default: uniform over the whole clip) or "truncate".
        padding: "longest" (pad to the longest clip in the batch) or "max_length" (pad to `max_frames`,
            the original's scheme; same results, more compute).
        mirror_left_handed: the original's test-time option: mirror a clip whose right hand never moves.
    """

    model_input_names = ["pose_values", "pose_attention_mask"]

    def __init__(
        self,
        keypoint_layout: str = "holistic",
        max_frames: int = 256,
        long_clip_policy: str = "subsample",
        padding: str = "longest",
        mirror_left_handed: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if keypoint_layout not in KEYPOINT_LAYOUTS:
            raise ValueError(f"keypoint_layout must be one of {sorted(KEYPOINT_LAYOUTS)}, got {keypoint_layout!r}")
        if long_clip_policy not in LONG_CLIP_POLICIES:
            raise ValueError(f"long_clip_policy must be one of {LONG_CLIP_POLICIES}, got {long_clip_policy!r}")
        if padding not in ("longest", "max_length"):
            raise ValueError(f"padding must be 'longest' or 'max_length', got {padding!r}")
        self.keypoint_layout = keypoint_layout
        self.max_frames = max_frames
        self.long_clip_policy = long_clip_policy
        self.padding = padding
        self.mirror_left_handed = mirror_left_handed

    @property
    def feature_dim(self) -> int:
        return KEYPOINT_LAYOUTS[self.keypoint_layout].feature_dim

    def extract(self, pose: PoseInput, name: str | None = None) -> np.ndarray:
        """One clip -> (frames, features), before the long-clip policy."""
        return self.features_from_keypoints(*self.keypoints(pose, name))

    def keypoints(self, pose: PoseInput, name: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
        """One input (pose file, bytes, `Pose`, array or video) -> (points, confidence, name) of the layout."""
        from .video_signclip import as_pose_source, describe_video, is_video  # sibling that imports this one

        if is_video(pose):  # a video path, container bytes or (frames, H, W, 3) uint8 frames -> its cached pose
            name = name or describe_video(pose)
            pose = as_pose_source(pose, name)
        name = name or _describe(pose)
        if isinstance(pose, np.ndarray):
            return (*array_to_keypoints(pose, name), name)
        points, confidence, _ = read_keypoints(pose, self.keypoint_layout, name)
        return points, confidence, name

    def features_from_keypoints(self, points: np.ndarray, confidence: np.ndarray, name: str = "<array>") -> np.ndarray:
        """Raw keypoints (as stored in a dataset) -> (frames, features), with the test-time mirror option."""
        return self._mirror_left_handed(keypoints_to_features(points, confidence, self.keypoint_layout, name))

    def _mirror_left_handed(self, features: np.ndarray) -> np.ndarray:
        if self.mirror_left_handed and self._right_hand_still(features):
            return mirror_features(features, self.keypoint_layout)
        return features

    def _right_hand_still(self, features: np.ndarray) -> bool:
        layout = KEYPOINT_LAYOUTS[self.keypoint_layout]
        start = layout.flat_index("RIGHT_HAND_LANDMARKS", "WRIST") * 3
        return bool(features[:, start : start + 3 * len(HAND_POINTS)].var(axis=0).max() == 0)

    def fit_length(self, features: np.ndarray) -> np.ndarray:
        if len(features) <= self.max_frames:
            return features
        return features[select_frame_indices(len(features), self.max_frames, self.long_clip_policy)]

    def pad(self, clips: Sequence[np.ndarray], return_tensors: str | None = None) -> BatchFeature:
        """Stack (T_i, D) clips into `pose_values` (B, T, D) and `pose_attention_mask` (B, T)."""
        clips = [self.fit_length(np.asarray(c, dtype=np.float32)) for c in clips]
        lengths = np.array([len(c) for c in clips])
        width = self.max_frames if self.padding == "max_length" else int(lengths.max())
        values = np.zeros((len(clips), width, clips[0].shape[-1]), dtype=np.float32)
        for row, clip in enumerate(clips):  # one contiguous copy per clip (a boolean-mask scatter is 3x slower)
            values[row, : len(clip)] = clip
        mask = np.arange(width)[None, :] < lengths[:, None]
        return BatchFeature(
            {"pose_values": values, "pose_attention_mask": mask.astype(np.int64)}, tensor_type=return_tensors
        )

    def __call__(
        self, poses: PoseInput | Sequence[PoseInput], return_tensors: str | None = None, **kwargs
    ) -> BatchFeature:
        if not isinstance(poses, (list, tuple)):
            poses = [poses]
        if len(poses) == 0:
            raise ValueError("no poses given")
        keypoints = [self.keypoints(pose) for pose in poses]
        clips = batch_keypoints_to_features(keypoints, self.keypoint_layout)
        return self.pad([self._mirror_left_handed(clip) for clip in clips], return_tensors=return_tensors)


__all__ = [
    "SignCLIPFeatureExtractor",
    "KeypointLayout",
    "KEYPOINT_LAYOUTS",
    "InvalidPoseError",
    "CorruptPoseError",
    "EmptyPoseError",
    "PoseLayoutError",
    "NonFinitePoseError",
    "DegeneratePoseError",
    "read_keypoints",
    "keypoints_to_features",
    "batch_keypoints_to_features",
    "array_to_keypoints",
    "mirror_features",
]
