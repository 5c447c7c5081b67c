"""Pose preprocessing: parity with an independent SPEC §1 implementation, layouts, and bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from pose_format import Pose
from signclip_hf.modeling import (
    CorruptPoseError,
    DegeneratePoseError,
    EmptyPoseError,
    NonFinitePoseError,
    PoseLayoutError,
    SignCLIPFeatureExtractor,
    left_handed_clips,
    read_keypoints,
)
from signclip_hf.modeling.keypoints_signclip import FACE_CONTOUR_POINTS

from signclip_hf.sample_data import FORMATS_DIR, GESTURES_DIR, HOUSE_POSE, SAMPLE_DIR

DGS_HOUSE = SAMPLE_DIR / "signs" / "dgs-HOUSE1A.pose"
GESTURE = GESTURES_DIR / "signer07" / "hello" / "000.pose"
COMPONENTS = ["POSE_LANDMARKS", "FACE_LANDMARKS", "LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"]


def spec_features(pose: Pose) -> np.ndarray:
    """SPEC §1, written from the text with plain numpy on the file's arrays (no signclip_hf code)."""
    pose = pose.get_components(COMPONENTS, {"FACE_LANDMARKS": list(FACE_CONTOUR_POINTS)})
    data = np.array(pose.body.data.data[:, 0, :, :3], dtype=np.float64)
    seen = np.array(pose.body.confidence[:, 0]) > 0
    body = pose.header.components[0].points
    right, left = body.index("RIGHT_SHOULDER"), body.index("LEFT_SHOULDER")
    both = seen[:, right] & seen[:, left]
    center = ((data[both, right] + data[both, left]) / 2).mean(axis=0)
    distance = np.sqrt(((data[both, right] - data[both, left]) ** 2).sum(-1)).mean()  # frames with both only
    data = (data - center) / distance
    data[~seen] = 0
    data[:, 25:33] = 0
    return np.nan_to_num(data).reshape(len(data), -1)


def load(path) -> Pose:
    return Pose.read(open(path, "rb").read())


def to_bytes(pose: Pose) -> bytes:
    buffer = io.BytesIO()
    pose.write(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def extractor():
    return SignCLIPFeatureExtractor()


@pytest.mark.parametrize("path", [HOUSE_POSE, DGS_HOUSE, GESTURE, GESTURES_DIR / "signer12" / "i_love_you" / "007.pose"])
def test_features_match_spec(extractor, path):
    features = extractor.extract(path)
    expected = spec_features(load(path))
    assert features.shape == (len(expected), 609) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected, atol=1e-5)
    assert np.all(features.reshape(len(features), 203, 3)[:, 25:33] == 0)


def test_house_pose_known_shape_and_frames(extractor):
    features = extractor.extract(HOUSE_POSE)
    assert features.shape == (73, 609)
    # shoulder midpoint is the origin on average and the mean shoulder distance is 1
    points = features.reshape(73, 203, 3)
    assert np.abs(((points[:, 11] + points[:, 12]) / 2).mean(axis=0)).max() < 1e-5
    assert np.linalg.norm(points[:, 11] - points[:, 12], axis=-1).mean() == pytest.approx(1.0, abs=1e-5)


def test_missing_shoulder_frames_are_skipped(extractor):
    pose = load(HOUSE_POSE)
    right = pose.header.components[0].points.index("RIGHT_SHOULDER")
    pose.body.confidence[5:15, 0, right] = 0
    pose.body.data.data[5:15, 0, right] = 0
    pose.body.data.mask[5:15, 0, right] = True
    features = extractor.extract(to_bytes(pose))
    np.testing.assert_allclose(features, spec_features(pose), atol=1e-5)
    # the missing shoulder itself stays exactly 0
    assert np.all(features.reshape(73, 203, 3)[5:15, right] == 0)


def test_face_selected_by_name_not_position(extractor):
    """A file whose face is already reduced to the 128 contour points gives the same features."""
    full = load(HOUSE_POSE)
    reduced = full.get_components(COMPONENTS, {"FACE_LANDMARKS": list(FACE_CONTOUR_POINTS)})
    np.testing.assert_allclose(extractor.extract(to_bytes(reduced)), extractor.extract(HOUSE_POSE), atol=1e-6)


def test_refined_478_point_face(extractor):
    """MediaPipe's refined face appends 10 iris points (468..477); the contour points are unchanged."""
    pose = load(HOUSE_POSE)
    face = pose.header.components[1]
    extra = [str(i) for i in range(468, 478)]
    face.points = list(face.points) + extra
    offset = len(pose.header.components[0].points) + 468
    rng = np.random.default_rng(0)
    data = np.insert(pose.body.data.data, [offset] * 10, rng.normal(size=(73, 1, 10, 3)), axis=2)
    confidence = np.insert(pose.body.confidence, [offset] * 10, np.ones((73, 1, 10)), axis=2)
    refined = Pose(pose.header, type(pose.body)(pose.body.fps, np.ma.masked_array(data), confidence))
    np.testing.assert_allclose(extractor.extract(to_bytes(refined)), extractor.extract(HOUSE_POSE), atol=1e-6)


@pytest.mark.parametrize(
    "name, expected",
    [
        ("openpose.pose", "no POSE_LANDMARKS component"),
        ("mmposewholebody-SOUP.pose", "BODY (23 points"),
        ("mediapipe_hand_normalized.pose", "RIGHT_HAND_LANDMARKS (21 points"),
        ("reduced-holistic-178-sentence.pose", "POSE_LANDMARKS lacks 25 of the 33 points"),
        ("v0.0-sample.pose", "no POSE_LANDMARKS component"),
    ],
)
def test_other_layouts_refused_clearly(extractor, name, expected):
    with pytest.raises(PoseLayoutError) as error:
        extractor.extract(FORMATS_DIR / name)
    assert name in str(error.value) and expected in str(error.value)


def test_layout_the_file_has_is_accepted():
    """The hand-only file works when the config asks for the right-hand (FingerCLIP) layout."""
    extractor = SignCLIPFeatureExtractor(keypoint_layout="right_hand")
    features = extractor.extract(FORMATS_DIR / "mediapipe_hand_normalized.pose")
    pose = load(FORMATS_DIR / "mediapipe_hand_normalized.pose")
    expected = np.where(pose.body.confidence[:, 0, :, None] > 0, pose.body.data.data[:, 0, :, :3], 0)
    np.testing.assert_array_equal(features, expected.reshape(len(expected), 63))


def test_corrupt_empty_and_truncated_files(extractor, tmp_path):
    empty = tmp_path / "empty.pose"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.pose"
    truncated.write_bytes(HOUSE_POSE.read_bytes()[:5000])
    garbage = tmp_path / "notes.pose"
    garbage.write_bytes(b"this is a text file, not a pose\n" * 20)
    for path, message in [(empty, "empty (0 bytes)"), (truncated, "not a readable .pose"), (garbage, "not a readable")]:
        with pytest.raises(CorruptPoseError) as error:
            extractor.extract(path)
        assert str(path) in str(error.value) and message in str(error.value)


def test_zero_frames(extractor, tmp_path):
    pose = load(HOUSE_POSE)
    empty = Pose(pose.header, type(pose.body)(25, pose.body.data[:0], pose.body.confidence[:0]))
    path = tmp_path / "zero.pose"
    path.write_bytes(to_bytes(empty))
    with pytest.raises(EmptyPoseError, match="zero.pose: the clip has zero frames"):
        extractor.extract(path)


def test_nan_on_observed_points(extractor, tmp_path):
    pose = load(HOUSE_POSE)
    pose.body.data.data[10, 0, 0, 0] = np.nan  # the nose, observed
    path = tmp_path / "nan.pose"
    path.write_bytes(to_bytes(pose))
    with pytest.raises(NonFinitePoseError, match="nan.pose: NaN or infinite .* first frame 10"):
        extractor.extract(path)


def test_nan_on_missing_points_is_zero(extractor):
    pose = load(HOUSE_POSE)
    pose.body.confidence[:, 0, 540] = 0
    pose.body.data.data[:, 0, 540] = np.nan
    features = extractor.extract(to_bytes(pose))
    assert np.isfinite(features).all()


def test_no_shoulders_is_degenerate(extractor, tmp_path):
    pose = load(HOUSE_POSE)
    body = pose.header.components[0].points
    pose.body.confidence[:, 0, body.index("LEFT_SHOULDER")] = 0
    path = tmp_path / "noshoulders.pose"
    path.write_bytes(to_bytes(pose))
    with pytest.raises(DegeneratePoseError, match="noshoulders.pose: no frame has both shoulders"):
        extractor.extract(path)


def test_array_input_matches_file(extractor):
    points, confidence, fps = read_keypoints(HOUSE_POSE)
    assert points.shape == (73, 203, 3) and confidence.shape == (73, 203) and fps == 25.0
    array = np.where(confidence[..., None] > 0, points, np.nan)
    np.testing.assert_allclose(extractor.extract(array), extractor.extract(HOUSE_POSE), atol=1e-6)
    with pytest.raises(PoseLayoutError, match=r"expected keypoints of shape \(frames, 203, 3\)"):
        extractor.extract(np.zeros((10, 50, 3), dtype=np.float32))


def test_inputs_as_bytes_and_pose_objects(extractor):
    expected = extractor.extract(HOUSE_POSE)
    np.testing.assert_array_equal(extractor.extract(HOUSE_POSE.read_bytes()), expected)
    np.testing.assert_array_equal(extractor.extract(load(HOUSE_POSE)), expected)


def test_long_clips_are_handled_not_refused():
    pose = load(HOUSE_POSE)
    long_pose = Pose(pose.header, type(pose.body)(25, np.ma.concatenate([pose.body.data] * 9), np.concatenate([pose.body.confidence] * 9)))
    data = to_bytes(long_pose)  # 657 frames
    full = SignCLIPFeatureExtractor(max_frames=1000).extract(data)
    subsampled = SignCLIPFeatureExtractor()(data)["pose_values"][0]
    truncated = SignCLIPFeatureExtractor(long_clip_policy="truncate")(data)["pose_values"][0]
    assert subsampled.shape == truncated.shape == (256, 609)
    np.testing.assert_array_equal(truncated, full[:256])
    np.testing.assert_array_equal(subsampled, full[np.round(np.linspace(0, 656, 256)).astype(int)])
    assert np.array_equal(subsampled[-1], full[-1])


def test_padding_and_mask(extractor):
    batch = extractor([HOUSE_POSE, GESTURE])
    assert batch["pose_values"].shape == (2, 73, 609)
    assert batch["pose_attention_mask"].sum(axis=1).tolist() == [73, 30]
    assert np.all(batch["pose_values"][1, 30:] == 0)
    padded = SignCLIPFeatureExtractor(padding="max_length")([GESTURE])
    assert padded["pose_values"].shape == (1, 256, 609)


def test_left_handed_mirror_option():
    pose = load(HOUSE_POSE)
    right_hand = [c.name for c in pose.header.components].index("RIGHT_HAND_LANDMARKS")
    start = sum(len(c.points) for c in pose.header.components[:right_hand])
    pose.body.confidence[:, 0, start : start + 21] = 0  # right hand never seen -> never moves
    data = to_bytes(pose)
    plain = SignCLIPFeatureExtractor().extract(data).reshape(73, 203, 3)
    mirrored = SignCLIPFeatureExtractor(mirror_left_handed=True).extract(data).reshape(73, 203, 3)
    left_hand, right_hand_slice = slice(161, 182), slice(182, 203)
    np.testing.assert_allclose(mirrored[:, right_hand_slice, 0], -plain[:, left_hand, 0])
    np.testing.assert_allclose(mirrored[:, right_hand_slice, 1:], plain[:, left_hand, 1:])
    assert np.all(mirrored[:, left_hand] == 0)


def test_left_hand_busier_rule_mirrors_a_seen_but_resting_right_hand():
    plain = SignCLIPFeatureExtractor().extract(load(HOUSE_POSE))
    points = plain.reshape(len(plain), 203, 3)
    left_hand, right_hand = slice(161, 182), slice(182, 203)
    resting = points[0, right_hand] + 1e-3 * np.sin(np.arange(len(points)))[:, None, None]  # seen, barely moving
    right_handed, left_handed = points.copy(), points.copy()
    right_handed[:, left_hand] = resting
    left_handed[:, left_hand], left_handed[:, right_hand] = points[:, right_hand], resting
    right_handed, left_handed = right_handed.reshape(plain.shape), left_handed.reshape(plain.shape)
    assert not left_handed_clips(left_handed, rule="right_hand_still")  # the original rule misses it
    assert left_handed_clips(np.stack([left_handed, right_handed]), rule="left_hand_busier").tolist() == [True, False]
    extractor = SignCLIPFeatureExtractor(mirror_left_handed=True, left_handed_rule="left_hand_busier")
    mirrored = extractor.mirror_if_left_handed(left_handed).reshape(points.shape)
    np.testing.assert_allclose(mirrored[:, right_hand, 0], -points[:, right_hand, 0])
    np.testing.assert_array_equal(extractor.mirror_if_left_handed(right_handed), right_handed)
    assert SignCLIPFeatureExtractor.from_dict(extractor.to_dict()).left_handed_rule == "left_hand_busier"
    with pytest.raises(ValueError, match="left_handed_rule"):
        SignCLIPFeatureExtractor(left_handed_rule="left")


@pytest.mark.parametrize("mirror_left_handed", [False, True], ids=["plain", "left-handed-mirrored"])
def test_batched_features_equal_one_clip_at_a_time(mirror_left_handed, tmp_path):
    """The feature extractor on a list normalizes all clips in one pass: same numbers as `extract` per clip
    (also when left-handed clips are mirrored: house.pose is one by `left_hand_busier`, the gestures are not),
    and a clip it must refuse still raises its own error naming the file."""
    extractor = SignCLIPFeatureExtractor(mirror_left_handed=mirror_left_handed, left_handed_rule="left_hand_busier")
    pose = load(HOUSE_POSE)
    right = pose.header.components[0].points.index("RIGHT_SHOULDER")
    pose.body.confidence[5:15, 0, right] = 0  # frames with a missing shoulder are skipped by the normalization
    clips = [
        HOUSE_POSE,
        to_bytes(pose),
        GESTURES_DIR / "signer07" / "hello" / "030.pose",
        GESTURES_DIR / "signer12" / "i_love_you" / "003.pose",
    ]
    for size in (1, 2, 3, 4):
        batch = extractor(clips[:size])
        lengths = batch["pose_attention_mask"].sum(axis=1)
        for values, length, clip in zip(batch["pose_values"], lengths, clips):
            np.testing.assert_allclose(values[:length], extractor.extract(clip), atol=1e-6)
            assert not values[length:].any()
    no_shoulders = load(HOUSE_POSE)
    no_shoulders.body.confidence[:, 0, no_shoulders.header.components[0].points.index("LEFT_SHOULDER")] = 0
    path = tmp_path / "noshoulders.pose"
    path.write_bytes(to_bytes(no_shoulders))
    with pytest.raises(DegeneratePoseError, match="noshoulders.pose: no frame has both shoulders"):
        extractor([HOUSE_POSE, path])
