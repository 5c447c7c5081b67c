"""Damaged and hostile `.pose` files (issue 10): refused with a specific error, fast and small, never wrong numbers.

Every hostile file is crafted here from the shipped MIT sample files. Normalization is checked against
pose-format's own `Pose.normalize`, which the original SignCLIP calls.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pose_format import Pose
from pose_format.pose_header import PoseHeader
from pose_format.utils.generic import pose_normalization_info
from pose_format.utils.reader import BufferReader
from signclip_hf.modeling import (
    CorruptPoseError,
    EmptyPoseError,
    NonFinitePoseError,
    SignCLIPFeatureExtractor,
    load_pose,
)
from signclip_hf.modeling.keypoints_signclip import FACE_CONTOUR_POINTS

from signclip_hf.sample_data import FORMATS_DIR, GESTURES_DIR, HOUSE_POSE, SAMPLE_DIR

DGS_HOUSE = SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose"  # v0.1
V0_0 = FORMATS_DIR / "v0.0-sample.pose"
SHARED_GESTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "gestures"
COMPONENTS = ["POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"]


def pose_format_features(data: bytes) -> np.ndarray:
    """The original's preprocessing with pose-format itself: 203 points, `Pose.normalize`, legs hidden."""
    pose = Pose.read(data).get_components(COMPONENTS, {"FACE_LANDMARKS": list(FACE_CONTOUR_POINTS)})
    pose = pose.normalize(pose_normalization_info(pose.header))
    array = pose.body.data.filled(0)[:, 0].copy()
    array[:, 25:33] = 0
    return np.nan_to_num(array).reshape(len(array), -1)


def header_size(data: bytes) -> int:
    reader = BufferReader(data)
    PoseHeader.read(reader)
    return reader.read_offset


def to_bytes(pose: Pose) -> bytes:
    buffer = io.BytesIO()
    pose.write(buffer)
    return buffer.getvalue()


def pose_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<H", len(raw)) + raw


def component_bytes(name: str, points: list, limbs: int = 0, point_format: str = "XYZC") -> bytes:
    return (
        pose_string(name)
        + pose_string(point_format)
        + struct.pack("<HHH", len(points), limbs, 0)
        + b"".join(pose_string(p) for p in points)
        + b"\0\0\1\0" * limbs
    )


def with_extra_components(data: bytes, *components: bytes) -> bytes:
    """`data` with components appended to its header (their points hold no body data: 0 points, or refused)."""
    end = header_size(data)
    (count,) = struct.unpack_from("<H", data, 10)
    return data[:10] + struct.pack("<H", count + len(components)) + data[12:end] + b"".join(components) + data[end:]


@pytest.fixture(scope="module")
def extractor():
    return SignCLIPFeatureExtractor()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- normalization: pose-format's masked means skip frames with a missing shoulder -------------------------------


def house_with_missing_shoulder() -> bytes:
    pose = Pose.read(HOUSE_POSE.read_bytes())
    right = pose.header.components[0].points.index("RIGHT_SHOULDER")
    pose.body.confidence[5:15, 0, right] = 0
    pose.body.data[5:15, 0, right] = np.ma.masked
    return to_bytes(pose)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda: (GESTURES_DIR / "signer07" / "hello" / "030.pose").read_bytes(), id="signer07-hello-030"),
        pytest.param(house_with_missing_shoulder, id="house-right-shoulder-masked-5-15"),
    ],
)
def test_missing_shoulder_normalization_matches_pose_format(extractor, data):
    data = data()
    expected = pose_format_features(data)
    np.testing.assert_allclose(extractor.extract(data), expected, rtol=0, atol=1e-5)


@pytest.mark.skipif(not SHARED_GESTURES.is_dir(), reason="the shared gesture data is not here")
@pytest.mark.parametrize("clip", ["signer06/hello/000.pose", "signer07/hello/030.pose", "signer17/hello/000.pose"])
def test_real_clips_with_a_missing_shoulder(extractor, clip):
    data = (SHARED_GESTURES / clip).read_bytes()
    np.testing.assert_allclose(extractor.extract(data), pose_format_features(data), rtol=0, atol=1e-5)


# -- the body must be what the header promises ------------------------------------------------------------------


@pytest.mark.parametrize("size", [574_189, 1_148_379 - 1, 1_148_379 - 576 * 4 * 4])  # the last drops a whole frame
def test_truncated_v0_1_file_is_refused(extractor, tmp_path, size):
    path = write(tmp_path, "cut.pose", DGS_HOUSE.read_bytes()[:size])
    with pytest.raises(CorruptPoseError, match=r"cut\.pose: truncated or damaged: the header declares 123 frames"):
        extractor.extract(path)


@pytest.mark.parametrize("frames", [72, 1, 74])
def test_v0_2_frame_count_must_match_body(extractor, tmp_path, frames):
    data = bytearray(HOUSE_POSE.read_bytes())
    struct.pack_into("<I", data, header_size(bytes(data)) + 4, frames)
    path = write(tmp_path, "frames.pose", bytes(data))
    with pytest.raises(
        CorruptPoseError, match=rf"frames\.pose: truncated or damaged: the header declares {frames} frames"
    ):
        extractor.extract(path)


def test_trailing_bytes_are_refused(extractor, tmp_path):
    path = write(tmp_path, "tail.pose", HOUSE_POSE.read_bytes() + b"\0" * 64)
    with pytest.raises(CorruptPoseError, match=r"tail\.pose: truncated or damaged.* but the body has"):
        extractor.extract(path)


@pytest.mark.parametrize("source", [HOUSE_POSE, DGS_HOUSE])
def test_no_person_is_a_specific_error(extractor, tmp_path, source):
    data = source.read_bytes()
    end = header_size(data)
    counts = 10 if struct.unpack_from("<f", data)[0] > 0.15 else 6  # v0.2: fps f, frames I, people H; v0.1: 3 H
    path = write(tmp_path, "nobody.pose", data[: end + counts - 2] + b"\0\0")  # people = 0, no body
    with pytest.raises(EmptyPoseError, match=r"nobody\.pose: the file holds no person \(people = 0\)"):
        extractor.extract(path)


def test_duplicate_point_name_is_refused(extractor, tmp_path):
    """A one-byte flip turns LEFT_HIP into a second LEFT_EYE; pose-format would use the hip as the eye."""
    data = HOUSE_POSE.read_bytes().replace(b"\x08\x00LEFT_HIP", b"\x08\x00LEFT_EYE", 1)
    path = write(tmp_path, "flip.pose", data)
    with pytest.raises(CorruptPoseError, match=r"flip\.pose: .*'LEFT_EYE' appears twice in component 'POSE_LANDMARKS'"):
        extractor.extract(path)


def test_duplicate_component_name_is_refused(extractor, tmp_path):
    data = HOUSE_POSE.read_bytes().replace(b"POSE_WORLD_LANDMARKS", b"RIGHT_HAND_LANDMARKS")
    path = write(tmp_path, "twice.pose", data)
    with pytest.raises(CorruptPoseError, match=r"twice\.pose: .*component 'RIGHT_HAND_LANDMARKS' appears twice"):
        extractor.extract(path)


@pytest.mark.parametrize("value", [1.5, -0.25, np.nan])
def test_confidence_outside_0_1_is_refused(extractor, tmp_path, value):
    pose = Pose.read(HOUSE_POSE.read_bytes())
    pose.body.confidence[7, 0, 0] = value
    path = write(tmp_path, "conf.pose", to_bytes(pose))
    with pytest.raises(CorruptPoseError, match=r"conf\.pose: confidence .* outside \[0, 1\] at frame 7"):
        extractor.extract(path)


# -- overflow: features are always finite ----------------------------------------------------------------------


def overflowing_house() -> bytes:
    """Coordinates in metres-like units (shoulder distance < 1) with one observed point at 3e38."""
    pose = Pose.read(HOUSE_POSE.read_bytes())
    pose.body.data = pose.body.data * np.float32(1e-3)
    pose.body.data[10, 0, 0, 0] = 3e38  # the nose, observed
    return to_bytes(pose)


def test_features_are_finite_or_refused(extractor, tmp_path):
    for shipped in sorted((SAMPLE_DIR / "signs").glob("*.pose")) + sorted(GESTURES_DIR.glob("*/*/00[0-4].pose")):
        assert np.isfinite(extractor.extract(shipped)).all(), shipped
    path = write(tmp_path, "huge.pose", overflowing_house())
    with pytest.raises(NonFinitePoseError, match=r"huge\.pose: coordinates too large.*first at frame 10"):
        extractor.extract(path)
    with pytest.raises(NonFinitePoseError):
        extractor([HOUSE_POSE, path])


def test_overflowing_array_is_refused(extractor):
    array = extractor.extract(HOUSE_POSE).reshape(73, 203, 3) * np.float32(1e-3)
    array[array == 0] = np.nan  # missing points stay missing
    array[3, 150] = -3e38
    with pytest.raises(NonFinitePoseError, match=r"<ndarray>: coordinates too large.*first at frame 3"):
        extractor.extract(array)


# -- headers are bounded before pose-format allocates ------------------------------------------------------------


def test_many_limbs_refused(extractor, tmp_path):
    limbs = [component_bytes(f"EXTRA_{i}", [], limbs=65_535) for i in range(4)]  # 1 MB of limbs
    path = write(tmp_path, "limbs.pose", with_extra_components(HOUSE_POSE.read_bytes(), *limbs))
    with pytest.raises(CorruptPoseError, match=r"limbs\.pose: .*limbs declared by component 'EXTRA_0' \(at most"):
        extractor.extract(path)


def test_many_point_names_refused(extractor, tmp_path):
    names = component_bytes("EXTRA", [f"P{i}" for i in range(20_000)])
    path = write(tmp_path, "names.pose", with_extra_components(HOUSE_POSE.read_bytes(), names))
    with pytest.raises(CorruptPoseError, match=r"names\.pose: .*20,576 points .* \(at most 16,384"):
        extractor.extract(path)


def test_long_point_name_refused(extractor, tmp_path):
    path = write(
        tmp_path, "long.pose", with_extra_components(HOUSE_POSE.read_bytes(), component_bytes("X", ["n" * 60_000]))
    )
    with pytest.raises(CorruptPoseError, match=r"long\.pose: .*X point name of 60,000 bytes \(at most 256\)"):
        extractor.extract(path)


def test_unknown_version_refused(extractor, tmp_path):
    path = write(tmp_path, "v9.pose", struct.pack("<f", 9.0) + HOUSE_POSE.read_bytes()[4:])
    with pytest.raises(CorruptPoseError, match=r"v9\.pose: .*unknown pose-format version 9\.0"):
        extractor.extract(path)


# -- v0.0 files: read like pose-format, with their memory bounded ------------------------------------------------


def empty_frames_v0_0() -> bytes:
    """The shipped v0.0 header, then 65,535 frames without a person (2 bytes each)."""
    data = V0_0.read_bytes()
    return data[: header_size(data)] + struct.pack("<HH", 25, 65_535) + b"\0\0" * 65_535


def wide_v0_0() -> bytes:
    """The issue's 135 KB file: 65,535 unnamed points, 2,000 frames without a person."""
    header = struct.pack("<fHHHH", 0.0, 640, 480, 0, 1) + component_bytes("P", [""] * 65_535)
    return header + struct.pack("<HH", 25, 2_000) + b"\0\0" * 2_000


def test_v0_0_read_as_pose_format_does_with_bounded_memory(extractor, tmp_path):
    for path in (V0_0, FORMATS_DIR / "openpose.pose"):
        ours, theirs = load_pose(path, str(path)), Pose.read(path.read_bytes())
        assert ours.body.fps == theirs.body.fps
        assert [c.points for c in ours.header.components] == [c.points for c in theirs.header.components]
        np.testing.assert_array_equal(ours.body.data, theirs.body.data.data)
        np.testing.assert_array_equal(ours.body.confidence, theirs.body.confidence)
    path = write(tmp_path, "empty-frames.pose", empty_frames_v0_0())
    with pytest.raises(CorruptPoseError, match=r"empty-frames\.pose: 65,535 frames × 137 points would take"):
        extractor.extract(path)
    path = write(tmp_path, "wide.pose", wide_v0_0())
    with pytest.raises(CorruptPoseError, match=r"wide\.pose: .*65,535 points"):
        extractor.extract(path)


RSS_PROBE = """
import json, resource, sys, time
import pose_format.utils.generic  # imported before measuring: a one-time cost, not the file's
from signclip_hf.modeling import InvalidPoseError, SignCLIPFeatureExtractor
extractor = SignCLIPFeatureExtractor()
extractor.extract(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize() + 2**31, resource.RLIM_INFINITY))  # a runaway read fails, not the host
for path in sys.argv[2:]:
    data = open(path, "rb").read()
    open("/proc/self/clear_refs", "w").write("5")  # restart the peak RSS (VmHWM) from the current RSS
    resident = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
    start = time.perf_counter()
    try:
        extractor.extract(data)
        outcome = "accepted"
    except InvalidPoseError as error:
        outcome = type(error).__name__
    except MemoryError:
        outcome = "MemoryError"
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: ru_maxrss also keeps the RSS of the forked parent (pytest) from before exec
    peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
    growth = peak - resident
    print(json.dumps({"file": path, "size": len(data), "outcome": outcome, "seconds": seconds, "growth": growth}))
"""


def long_house() -> bytes:
    """A valid 8 MB file: house.pose repeated to 876 frames."""
    pose = Pose.read(HOUSE_POSE.read_bytes())
    body = type(pose.body)(25, np.ma.concatenate([pose.body.data] * 12), np.concatenate([pose.body.confidence] * 12))
    return to_bytes(Pose(pose.header, body))


def limbs_2mb() -> bytes:
    return with_extra_components(HOUSE_POSE.read_bytes(), *[component_bytes(f"L{i}", [], 65_535) for i in range(8)])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to measure peak RSS per file")
def test_peak_memory_is_bounded_by_file_size(tmp_path):
    """Peak RSS growth while reading each file stays under 10× its size (plus 2 MB of interpreter noise)."""
    expected = {"v0.0-empty-frames": "CorruptPoseError", "v0.0-65535-points": "CorruptPoseError",
                "2MB-of-limbs": "CorruptPoseError", "valid-8MB": "accepted"}  # fmt: skip
    crafts = [empty_frames_v0_0, wide_v0_0, limbs_2mb, long_house]
    paths = [write(tmp_path, f"{name}.pose", craft()) for name, craft in zip(expected, crafts)]
    command = [sys.executable, "-c", RSS_PROBE, str(GESTURES_DIR / "signer07" / "hello" / "000.pose"), *map(str, paths)]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    probes = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [Path(p["file"]).stem for p in probes] == list(expected)
    for probe in probes:
        assert probe["outcome"] == expected[Path(probe["file"]).stem], probe
        assert probe["growth"] <= 10 * probe["size"] + 2 * 2**20, probe
