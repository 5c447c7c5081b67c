"""Video input: real MediaPipe Holistic on the shipped video, equal to pose-format's `video_to_pose`.

Covers the feature extractor / pipeline / endpoint on video paths, bytes and uint8 frame arrays (batched
= one at a time), the content-hash cache, `video-to-pose` with resume and bad inputs, bounded memory on
huge frames, `build-dataset` on videos, and rendering.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pose_format import Pose
from signclip_hf.modeling import CorruptPoseError, SignCLIPFeatureExtractor
from signclip_hf.modeling.video_signclip import (
    CACHE_ENV,
    NoPersonError,
    UnreadableVideoError,
    VideoConfig,
    VideoTooLongError,
    write_pose,
)
from transformers import pipeline

from signclip_hf.cli import main as cli_main
from signclip_hf.data.build import build_dataset
from signclip_hf.endpoint.handler import EndpointHandler
from signclip_hf.pipeline import save_for_pipeline
from signclip_hf.render import render_pose
from signclip_hf.sample_data import GESTURES_DIR, HOUSE_POSE, TEST_VIDEO
from signclip_hf.video import read_errors, render_features

from fixtures.tiny import tiny_model, tiny_processor

LABELS = ["house", "hello", "thank you"]
NO_CACHE = VideoConfig(cache_dir=None)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pose-cache")


@pytest.fixture(autouse=True)
def _pose_cache(monkeypatch, cache_dir):
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """pose-format's own `video_to_pose --format mediapipe` on the shipped video, in its own process."""
    output = tmp_path_factory.mktemp("reference") / "reference.pose"
    argv = ["video_to_pose", "--format", "mediapipe", "-i", str(TEST_VIDEO), "-o", str(output)]
    code = f"import sys; sys.argv = {argv!r}; from pose_format.bin.pose_estimation import main; main()"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    return output


def video_frames(count: int) -> np.ndarray:
    """The first `count` frames of the test video as (count, H, W, 3) uint8 RGB."""
    capture = cv2.VideoCapture(str(TEST_VIDEO))
    frames = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(count)]
    capture.release()
    return np.stack(frames)


def write_video(path: Path, frames: list[np.ndarray] | np.ndarray, fps: float = 30.0) -> Path:
    """BGR frames -> an MJPG .avi or mp4v .mp4 (by suffix)."""
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def test_extraction_is_byte_identical_to_video_to_pose(reference, tmp_path):
    ours = write_pose(TEST_VIDEO, tmp_path / "ours.pose", NO_CACHE)
    want, got = Pose.read(reference.read_bytes()), Pose.read(ours.read_bytes())
    assert got.body.data.shape == want.body.data.shape == (58, 1, 576, 3)
    assert [(c.name, c.points, c.limbs, c.format) for c in got.header.components] == [
        (c.name, c.points, c.limbs, c.format) for c in want.header.components
    ]
    assert (got.header.dimensions.width, got.header.dimensions.height) == (540, 720)
    np.testing.assert_array_equal(got.body.data.data, want.body.data.data)  # measured tolerance: 0 (bitwise)
    np.testing.assert_array_equal(got.body.confidence, want.body.confidence)
    assert ours.read_bytes() == reference.read_bytes()
    assert not list(tmp_path.glob(".*tmp"))  # scratch files removed


def test_feature_extractor_on_video_path_bytes_and_frames_with_cache(reference, cache_dir, tmp_path):
    extractor = SignCLIPFeatureExtractor()
    want = extractor.extract(reference)
    np.testing.assert_array_equal(extractor.extract(str(TEST_VIDEO)), want)
    (cached,) = cache_dir.rglob("*.pose")
    assert cached.read_bytes() == reference.read_bytes()  # a second extraction in this process: still identical
    stamp = (cached.stat().st_ino, cached.stat().st_mtime_ns)
    # the same content as bytes hits the cache: MediaPipe does not run again (no new file, same inode)
    np.testing.assert_array_equal(extractor.extract(TEST_VIDEO.read_bytes()), want)
    np.testing.assert_array_equal(extractor.extract(TEST_VIDEO), want)
    assert list(cache_dir.rglob("*.pose")) == [cached] and (cached.stat().st_ino, cached.stat().st_mtime_ns) == stamp

    frames = video_frames(6)
    from_frames = extractor.extract(frames)
    assert from_frames.shape == (6, 609) and np.isfinite(from_frames).all()
    np.testing.assert_array_equal(from_frames, extractor.extract(write_pose(frames, tmp_path / "f.pose", NO_CACHE)))
    assert len(list(cache_dir.rglob("*.pose"))) == 2

    clips = [str(TEST_VIDEO), TEST_VIDEO.read_bytes(), frames]
    singles = [extractor([clip])["pose_values"][0] for clip in clips]
    for size in (1, 2, 3):
        batch = extractor(clips[:size])
        for row, single in zip(range(size), singles):
            length = int(batch["pose_attention_mask"][row].sum())
            np.testing.assert_array_equal(batch["pose_values"][row, :length], single[:length])


def test_bad_video_inputs_raise_specific_errors(tmp_path):
    extractor = SignCLIPFeatureExtractor()
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video\n")
    with pytest.raises(UnreadableVideoError, match=r"empty\.mp4: the file is empty"):
        extractor([str(tmp_path / "empty.mp4")])
    with pytest.raises(UnreadableVideoError, match=r"text\.mp4: not a readable video"):
        extractor([str(tmp_path / "text.mp4")])
    with pytest.raises(CorruptPoseError):  # bytes that are no known container are read as a .pose
        extractor([b"not a video at all"])
    blank = write_video(tmp_path / "blank.avi", [np.full((96, 128, 3), 200, np.uint8)] * 3)
    with pytest.raises(NoPersonError, match=r"blank\.avi: MediaPipe Holistic found no person in any of the 3"):
        extractor([str(blank)])
    with pytest.raises(VideoTooLongError, match=r"1\.9 s long; the limit is 1 s"):
        write_pose(TEST_VIDEO, tmp_path / "x.pose", VideoConfig(max_seconds=1, cache_dir=None))
    assert not (tmp_path / "x.pose").exists()


def test_pipeline_and_endpoint_accept_videos(reference, tmp_path):
    directory = save_for_pipeline(tiny_model(seed=3), tiny_processor(), tmp_path / "model")
    assert (directory / "video_signclip.py").is_file()  # travels with the remote code
    pipe = pipeline(model=str(directory), trust_remote_code=True)
    want = pipe(str(reference), candidate_labels=LABELS)
    assert pipe(str(TEST_VIDEO), candidate_labels=LABELS) == want
    batched = pipe([str(TEST_VIDEO), TEST_VIDEO.read_bytes()], candidate_labels=LABELS, batch_size=2)  # one real batch
    for result in batched:
        assert [r["label"] for r in result] == [r["label"] for r in want]
        assert [r["score"] for r in result] == pytest.approx([r["score"] for r in want], abs=1e-5)

    handler = EndpointHandler(str(directory))
    request = {"inputs": base64.b64encode(TEST_VIDEO.read_bytes()).decode(), "parameters": {"candidate_labels": LABELS}}
    assert handler(request) == want
    with pytest.raises(ValueError, match="the limit is 1 s"):
        EndpointHandler(str(directory), max_video_seconds=1.0)(request)


@pytest.mark.slow
def test_video_to_pose_cli_resumes_and_reports_bad_videos(reference, tmp_path, capsys):
    videos, poses = tmp_path / "videos", tmp_path / "poses"
    (videos / "sub").mkdir(parents=True)
    write_video(videos / "good.avi", video_frames(8)[..., ::-1])
    raw = TEST_VIDEO.read_bytes()
    (videos / "truncated.mp4").write_bytes(raw[: len(raw) // 6])
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "text.mp4").write_text("hello, I am not a video\n")
    person = cv2.VideoCapture(str(TEST_VIDEO)).read()[1]
    write_video(videos / "sub" / "one_frame.avi", [person])
    write_video(videos / "blank.avi", [np.full((120, 160, 3), 90, np.uint8)] * 4)
    write_video(videos / "long.avi", [np.zeros((32, 32, 3), np.uint8)] * 120)  # 4 s at 30 fps

    assert cli_main(["video-to-pose", str(videos), "--output", str(poses), "--num-proc", "2", "--max-seconds", "3"]) == 1
    np.testing.assert_array_equal(
        Pose.read((poses / "good.pose").read_bytes()).body.data.data,
        Pose.read(write_pose(videos / "good.avi", tmp_path / "good.pose", NO_CACHE).read_bytes()).body.data.data,
    )
    assert Pose.read((poses / "sub" / "one_frame.pose").read_bytes()).body.data.shape == (1, 1, 576, 3)
    assert sorted(p.name for p in poses.rglob("*") if p.is_file()) == [
        "good.pose",
        "one_frame.pose",
        "video_errors.tsv",
    ]
    errors = read_errors(poses / "video_errors.tsv")
    assert {Path(k).name: v.split(":")[0] for k, v in errors.items()} == {
        "blank.avi": "NoPersonError",
        "empty.mp4": "UnreadableVideoError",
        "long.avi": "VideoTooLongError",
        "text.mp4": "UnreadableVideoError",
        "truncated.mp4": "UnreadableVideoError",
    }
    assert "truncated or damaged" in errors[str(videos / "truncated.mp4")]
    out = capsys.readouterr().out
    assert "converted 2 video(s)" in out and "5 failed" in out and f"{videos / 'text.mp4'}: UnreadableVideoError" in out

    # resume: finished files are kept as they are, only the missing one is extracted again
    stamp = (poses / "good.pose").stat().st_mtime_ns
    (poses / "sub" / "one_frame.pose").unlink()
    for bad in ("truncated.mp4", "empty.mp4", "text.mp4", "blank.avi", "long.avi"):
        (videos / bad).unlink()
    assert cli_main(["video-to-pose", str(videos), "--output", str(poses)]) == 0
    assert (poses / "good.pose").stat().st_mtime_ns == stamp and (poses / "sub" / "one_frame.pose").is_file()
    assert "converted 1 video(s)" in capsys.readouterr().out and not (poses / "video_errors.tsv").exists()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak RSS from Linux's /proc")
def test_huge_frames_are_streamed_with_bounded_memory(tmp_path):
    """Frames of 2160x2880 (17.8 MB each): peak RSS does not grow with the number of frames."""
    script = textwrap.dedent(
        f"""
        import cv2, numpy as np
        from signclip_hf.modeling.video_signclip import VideoConfig, write_pose
        person = cv2.VideoCapture({str(TEST_VIDEO)!r}).read()[1]
        big = cv2.resize(person, (person.shape[1] * 4, person.shape[0] * 4))
        for name, count in (("short.avi", 3), ("huge.avi", 12)):
            writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*"MJPG"), 30, (big.shape[1], big.shape[0]))
            for _ in range(count):
                writer.write(big)
            writer.release()
        del big
        def peak_mb():  # VmHWM: this process's own peak (ru_maxrss carries the parent's peak over exec)
            status = open("/proc/self/status").read()
            return int(status.split("VmHWM:")[1].split()[0]) / 1024

        write_pose("short.avi", "short.pose", VideoConfig(cache_dir=None))
        before = peak_mb()
        write_pose("huge.avi", "huge.pose", VideoConfig(cache_dir=None))
        print(before, peak_mb() - before)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    peak_mb, growth_mb = map(float, result.stdout.split()[-2:])
    frame_mb = 2160 * 2880 * 3 / 2**20
    # holding the 9 extra frames would add 160 MB; streaming adds allocator noise (measured 0-60 MB)
    assert growth_mb < 5 * frame_mb, f"peak RSS {peak_mb:.0f} MB after 3 frames grew {growth_mb:.0f} MB for 12"
    assert Pose.read((tmp_path / "huge.pose").read_bytes()).body.data.shape == (12, 1, 576, 3)


def test_build_dataset_on_a_folder_of_videos(tmp_path):
    root = tmp_path / "clips"
    root.mkdir()
    shutil.copy(TEST_VIDEO, root / "hello.mp4")
    (root / "broken.mp4").write_text("not a video")
    (root / "metadata.csv").write_text("file,label,signer\nhello.mp4,hello,a\nbroken.mp4,house,b\n")
    dataset, report = build_dataset(root, output=tmp_path / "dataset")
    assert len(dataset) == 1 and dataset[0]["num_frames"] == 58 and dataset[0]["file"] == "hello.mp4"
    assert [(s.file, s.reason) for s in report.skipped] == [("broken.mp4", "bad video")]
    assert "not a readable video" in report.skipped[0].problem


def test_render_gif_and_mp4(tmp_path):
    gesture = GESTURES_DIR / "signer07" / "hello" / "000.pose"
    frames = Pose.read(gesture.read_bytes()).body.data.shape[0]
    gif = Image.open(render_pose(gesture, tmp_path / "hello.gif"))
    assert gif.n_frames == frames and gif.size == (640, 480)
    images = []
    for index in range(gif.n_frames):
        gif.seek(index)
        images.append(np.asarray(gif.convert("L")))
    assert all((image < 200).mean() > 0.002 for image in images)  # a drawn skeleton on every frame
    assert any(not np.array_equal(images[0], image) for image in images[1:])  # it moves

    features = SignCLIPFeatureExtractor().extract(HOUSE_POSE)
    assert Image.open(render_features(features, tmp_path / "house.gif", max_frames=10)).n_frames == 10

    capture = cv2.VideoCapture(str(render_pose(gesture, tmp_path / "hello.mp4", max_frames=7)))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 7

    assert cli_main(["render", str(gesture), "--output", str(tmp_path / "cli.gif"), "--frames", "5"]) == 0
    assert Image.open(tmp_path / "cli.gif").n_frames == 5
    (tmp_path / "bad.pose").write_bytes(b"\x00" * 10)
    with pytest.raises(SystemExit):
        cli_main(["render", str(tmp_path / "bad.pose"), "--output", str(tmp_path / "bad.gif")])


def test_render_over_the_source_video(reference, tmp_path):
    plain = Image.open(render_pose(reference, tmp_path / "plain.gif", max_frames=3)).convert("RGB")
    overlay = Image.open(render_pose(reference, tmp_path / "overlay.gif", video=TEST_VIDEO, max_frames=3))
    assert overlay.n_frames == 3 and overlay.size == (540, 720)
    plain_pixels, overlay_pixels = np.asarray(plain), np.asarray(overlay.convert("RGB"))
    assert (plain_pixels == 255).all(-1).mean() > 0.5 and (overlay_pixels == 255).all(-1).mean() < 0.1
