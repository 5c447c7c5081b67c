"""Hostile and careless video input: lying headers, huge frames, truncated files, clashing names, killed runs.

Every video here is written by the test itself with `cv2.VideoWriter` (tiny frames, so each case takes
seconds) or cut from the bundled real MP4. The limits under test are `VideoConfig`'s, which the CLI, the
pipeline, the app and the endpoint all go through.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pose_format import Pose
from pose_format.pose_header import PoseHeaderDimensions
from signclip_hf.modeling.video_signclip import (
    InvalidVideoError,
    UnreadableVideoError,
    VideoConfig,
    VideoTooLargeError,
    VideoTooLongError,
    remove_stale_scratch,
    scratch_path,
    write_pose,
)

from signclip_hf.cli import main as cli_main
from signclip_hf.sample_data import GESTURES_DIR, TEST_VIDEO
from signclip_hf.video import ERRORS_FILE, errors_text, read_errors

NO_CACHE = VideoConfig(cache_dir=None)
REPO = Path(__file__).resolve().parents[1]


def write_video(path: Path, frames, fps: float = 30.0) -> Path:
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix == ".avi" else "mp4v"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (frames[0].shape[1], frames[0].shape[0]))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def tiny_frames(count: int) -> list[np.ndarray]:
    return [np.full((48, 64, 3), i % 251, np.uint8) for i in range(count)]


def first_frame() -> np.ndarray:
    capture = cv2.VideoCapture(str(TEST_VIDEO))
    frame = capture.read()[1]
    capture.release()
    return frame


# --- 1. limits that do not trust the container ------------------------------------------------------------


def test_a_lying_frame_rate_is_refused_before_decoding(tmp_path):
    """2,000 frames at a declared 1000 fps are "2 s long": refused by the frame rate, whatever the limit."""
    fast = write_video(tmp_path / "fast.avi", tiny_frames(2000), fps=1000)
    for config in (VideoConfig(max_seconds=5, cache_dir=None), NO_CACHE):
        start = time.perf_counter()
        with pytest.raises(InvalidVideoError, match=r"fast\.avi: declares 1000 fps and its frame timestamps show 1000 fps; frame rates outside 1-240 fps"):
            write_pose(fast, tmp_path / "fast.pose", config)
        assert time.perf_counter() - start < 5  # refused from the header: no frame went through MediaPipe
    slow = write_video(tmp_path / "slow.avi", tiny_frames(3), fps=0.5)
    with pytest.raises(InvalidVideoError, match=r"slow\.avi: declares 0\.5 fps and its frame timestamps show 0\.5 fps"):
        write_pose(slow, tmp_path / "slow.pose", NO_CACHE)
    assert not list(tmp_path.glob("*.pose")) and not list(tmp_path.glob(".*tmp"))


BROWSER_RECORDING = """
const done = arguments[arguments.length - 1];
const canvas = document.createElement("canvas"); canvas.width = 64; canvas.height = 48;
document.body.appendChild(canvas);
const context = canvas.getContext("2d"); let n = 0;
const paint = setInterval(() => { context.fillStyle = `rgb(${(n * 20) % 255}, 0, 0)`; context.fillRect(0, 0, 64, 48); n++; }, 33);
const recorder = new MediaRecorder(canvas.captureStream(30), {mimeType: "video/webm;codecs=vp8"}); const parts = [];
recorder.ondataavailable = (event) => parts.push(event.data);
recorder.onstop = async () => {
  clearInterval(paint);
  const bytes = new Uint8Array(await new Blob(parts).arrayBuffer()); let text = "";
  for (let k = 0; k < bytes.length; k += 8192) text += String.fromCharCode.apply(null, bytes.subarray(k, k + 8192));
  done(btoa(text));
};
recorder.start(); setTimeout(() => recorder.stop(), 1500);
"""


@pytest.mark.slow
def test_a_browser_recording_gets_the_rate_its_timestamps_show(tmp_path):
    """A webcam recording as the app receives it (Chromium's MediaRecorder WebM): OpenCV reports its 1 ms time
    base as "1000 fps" and its duration in ms as the frame count. The measured rate (~30 fps) is used instead
    of refusing the clip (or, on main, calling it truncated: 1,451 frames declared, 35 decoded)."""
    import base64

    from fixtures.web_page import chromium, require_chromium

    from signclip_hf.modeling.video_signclip import NoPersonError, _VideoFileFrames

    require_chromium()
    with chromium(script_timeout=60) as driver:
        recording = tmp_path / "webcam.webm"
        recording.write_bytes(base64.b64decode(driver.execute_async_script(BROWSER_RECORDING)))
    capture = cv2.VideoCapture(str(recording))
    claimed = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    frames = _VideoFileFrames(recording, "webcam.webm", VideoConfig(max_seconds=20, cache_dir=None))
    assert claimed > 240 or abs(claimed - frames.fps) > 3  # the header's rate is not the recording's
    # painted every 33 ms; a loaded machine paints less often (the rate is the timestamps', not the header's)
    assert 5 <= frames.fps <= 60 and frames.declared_frames is None, (claimed, frames.fps)
    assert 0.5 <= frames.declared_seconds <= 3.0, frames.declared_seconds
    frames.capture.release()
    with pytest.raises(NoPersonError, match="webcam.webm: MediaPipe Holistic found no person"):  # fps, length ok
        write_pose(recording, tmp_path / "webcam.pose", VideoConfig(max_seconds=20, cache_dir=None))


def test_frames_are_capped_independently_of_the_frame_rate(tmp_path):
    """A plausible 200 fps header makes 400 frames "2 s": the cap counts frames at 60 fps (300 for 5 s)."""
    video = write_video(tmp_path / "fast.avi", tiny_frames(400), fps=200)
    too_many = r"declares 400 frames; the limit is 5 s at up to 60 fps \(300 frames\)"
    with pytest.raises(VideoTooLongError, match=too_many):
        write_pose(video, tmp_path / "x.pose", VideoConfig(max_seconds=5, cache_dir=None))
    too_many = r"pose-format-test-video\.mp4: declares 58 frames; the limit is 10 frames"
    with pytest.raises(VideoTooLongError, match=too_many):
        write_pose(TEST_VIDEO, tmp_path / "x.pose", VideoConfig(max_frames=10, cache_dir=None))
    assert VideoConfig(max_seconds=5).frame_limit() == 300 and VideoConfig().frame_limit() is None
    assert VideoConfig(max_seconds=20).time_limit() == 260 and VideoConfig().time_limit() is None


def test_extraction_wall_time_is_capped(tmp_path):
    too_slow = r"extraction stopped after \d+ frames: it ran past the 0\.3 s time limit"
    with pytest.raises(VideoTooLongError, match=too_slow):
        write_pose(TEST_VIDEO, tmp_path / "x.pose", VideoConfig(max_extract_seconds=0.3, cache_dir=None))
    assert not (tmp_path / "x.pose").exists() and not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("field", ["max_seconds", "max_extract_seconds", "max_megapixels", "max_fps"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 0.0])
def test_video_config_refuses_nonsense_limits(field, value):
    with pytest.raises(ValueError, match=rf"VideoConfig\.{field} must be a positive finite number"):
        VideoConfig(**{field: value})


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0", "five"])
def test_cli_max_seconds_must_be_positive_and_finite(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["video-to-pose", str(tmp_path), "--output", str(tmp_path / "out"), "--max-seconds", value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--max-seconds" in err and value in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# --- 2. memory bounded per frame ----------------------------------------------------------------------------


def test_decoded_frames_are_checked_too(tmp_path):
    frames = np.zeros((2, 400, 500, 3), np.uint8)
    with pytest.raises(VideoTooLargeError, match=r"a decoded frame is 500x400 \(0\.2 MP\); the limit is 0\.1 MP"):
        write_pose(frames, tmp_path / "x.pose", VideoConfig(max_megapixels=0.1, cache_dir=None))
    assert not (tmp_path / "x.pose").exists()


MEMORY_SCRIPT = """
import json
import cv2
from pose_format.utils import holistic  # MediaPipe and OpenCV imported before measuring
from signclip_hf.modeling.video_signclip import VideoConfig, VideoTooLargeError, write_pose

def peak_mb():  # VmHWM: this process's own peak resident memory
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024

before = peak_mb()
try:
    write_pose("huge.avi", "huge.pose", VideoConfig(cache_dir=None))
    refused = None
except VideoTooLargeError as error:
    refused = str(error)
huge = peak_mb() - before
write_pose("warm.avi", "warm.pose", VideoConfig(cache_dir=None))  # MediaPipe's graph and models loaded once
before = peak_mb()
write_pose("big.avi", "big.pose", VideoConfig(cache_dir=None))
print(json.dumps({"refused": refused, "huge": huge, "big": peak_mb() - before}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak RSS from Linux's /proc")
def test_frame_size_is_bounded_refused_or_downscaled_before_mediapipe(tmp_path):
    """One 8000x8000 MJPG frame (a 0.6 MB file, 64 MP) is refused from its claimed size, nothing decoded; a
    3000x4000 frame goes to MediaPipe at 1440x1920 (INTER_AREA), its landmarks in 3000x4000 pixels."""
    canvas = np.zeros((8000, 8000, 3), np.uint8)
    cv2.circle(canvas, (4000, 4000), 2000, (0, 0, 255), -1)
    write_video(tmp_path / "huge.avi", [canvas])
    del canvas
    assert (tmp_path / "huge.avi").stat().st_size < 2_000_000
    write_video(tmp_path / "big.avi", [cv2.resize(first_frame(), (3000, 4000))])
    write_video(tmp_path / "warm.avi", [first_frame()])
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    report = json.loads(result.stdout.splitlines()[-1])
    assert report["refused"] == "huge.avi: the container claims frames of 8000x8000 (64.0 MP); the limit is 36 MP"
    assert report["huge"] < 30, report  # one decoded frame alone would be 183 MB (BGR)
    assert not (tmp_path / "huge.pose").exists()
    frame_mb = 3000 * 4000 * 3 / 2**20  # 34 MB
    assert report["big"] < 6 * frame_mb, f"peak RSS grew {report['big']:.0f} MB for one {frame_mb:.0f} MB frame"

    got = Pose.read((tmp_path / "big.pose").read_bytes())
    assert (got.header.dimensions.width, got.header.dimensions.height) == (3000, 4000)
    # the same pixels MediaPipe saw, given as a (1, 1920, 1440, 3) RGB array: equal landmarks, scaled
    decoded = cv2.VideoCapture(str(tmp_path / "big.avi")).read()[1]
    small = cv2.cvtColor(cv2.resize(decoded, (1440, 1920), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    want = Pose.read(write_pose(small[None], tmp_path / "small.pose", NO_CACHE).read_bytes())
    assert got.body.confidence.sum() > 0
    np.testing.assert_array_equal(got.body.confidence, want.body.confidence)
    scale = np.array([3000 / 1440, 4000 / 1920, 1.0], np.float32)
    np.testing.assert_allclose(got.body.data.data, want.body.data.data * scale, rtol=1e-5, atol=1e-3)


# --- 3. truncated videos -------------------------------------------------------------------------------------


def test_the_bundled_mp4_decodes_exactly_its_declared_frames():
    capture = cv2.VideoCapture(str(TEST_VIDEO))
    declared, count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0
    while capture.read()[0]:
        count += 1
    assert declared == count == 58


def test_a_slightly_truncated_mp4_is_refused(tmp_path):
    """1,000 bytes cut off the real MP4 lose 3 of its 58 frames (3,000 bytes: 5): refused, not a shorter pose."""
    raw = TEST_VIDEO.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(raw[:-1000])
    truncated = r"cut\.mp4: truncated or damaged: the container declares 58 frames, only 55 could be decoded"
    with pytest.raises(UnreadableVideoError, match=truncated):
        write_pose(tmp_path / "cut.mp4", tmp_path / "cut.pose", NO_CACHE)
    assert not (tmp_path / "cut.pose").exists()


# --- 4. lost data in video-to-pose -------------------------------------------------------------------------


def test_videos_that_would_write_the_same_pose_are_refused_before_any_work(tmp_path, capsys):
    videos, poses = tmp_path / "videos", tmp_path / "poses"
    (videos / "sub").mkdir(parents=True)
    write_video(videos / "a.mp4", tiny_frames(2))
    write_video(videos / "a.avi", tiny_frames(2))
    write_video(videos / "b.avi", tiny_frames(2))
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["video-to-pose", str(videos), "--output", str(poses)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "2 videos would write the same .pose file: a.avi and a.mp4 -> " in err and "a.pose" in err
    assert "nothing was converted" in err and len(err.strip().splitlines()) == 1
    assert not poses.exists()


def test_a_foreign_errors_table_is_never_overwritten(tmp_path, capsys):
    videos, poses = tmp_path / "videos", tmp_path / "poses"
    videos.mkdir()
    poses.mkdir()
    (videos / "text.mp4").write_text("not a video")
    (poses / ERRORS_FILE).write_text("my own notes\n")
    with pytest.raises(SystemExit):
        cli_main(["video-to-pose", str(videos), "--output", str(poses)])
    assert "was not written by signclip-hf" in capsys.readouterr().err
    assert (poses / ERRORS_FILE).read_text() == "my own notes\n"


def test_stale_scratch_files_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / "sub" / f".signclip-{dead_pid}-a.pose.data.tmp"
    stale.parent.mkdir()
    stale.write_bytes(b"x")
    mine = scratch_path(tmp_path / "b.pose", "data")
    mine.write_bytes(b"x")
    foreign = tmp_path / ".a.pose.123.data.tmp"  # not a name this package writes
    foreign.write_bytes(b"x")
    assert remove_stale_scratch(tmp_path) == [stale]
    assert not stale.exists() and mine.exists() and foreign.exists()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kills a process tree; Linux process model")
def test_killing_the_parent_kills_its_workers_and_a_rerun_removes_their_scratch(tmp_path):
    import psutil

    videos, poses = tmp_path / "videos", tmp_path / "poses"
    videos.mkdir()
    for index in range(4):
        (videos / f"clip{index}.mp4").write_bytes(TEST_VIDEO.read_bytes())
    arguments = ["video-to-pose", str(videos), "--output", str(poses), "--num-proc", "2"]
    command = [sys.executable, "-m", "signclip_hf.cli", *arguments]
    parent = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(poses.rglob("*.tmp")):  # the workers are extracting
            assert parent.poll() is None and time.monotonic() < deadline, "no worker started extracting"
            time.sleep(0.1)
        children = psutil.Process(parent.pid).children(recursive=True)
        assert len([c for c in children if c.pid != parent.pid]) >= 2
    finally:
        if parent.poll() is None:
            os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
    gone, alive = psutil.wait_procs(children, timeout=10)
    for survivor in alive:  # do not leave them running if the assertion below fails
        survivor.kill()
    assert not alive, f"still running after their parent was killed: {[p.pid for p in alive]}"
    assert list(poses.rglob("*.tmp"))  # what the killed workers left

    for video in videos.iterdir():
        video.unlink()  # the rerun has nothing to extract: only the clean-up runs
    assert cli_main(arguments) == 0  # the rerun (in this process)
    assert not list(poses.rglob("*.tmp"))


# --- 5. housekeeping -----------------------------------------------------------------------------------------


def test_errors_table_round_trips_odd_names_and_reports_broken_links(tmp_path, capsys):
    videos, poses = tmp_path / "videos", tmp_path / "poses"
    videos.mkdir()
    odd = videos / 'bad\tname\nwith "quotes".mp4'
    odd.write_text("not a video")
    (videos / "gone.mp4").symlink_to(videos / "missing.mp4")
    (videos / "loop.avi").symlink_to(videos / "loop.avi")
    assert cli_main(["video-to-pose", str(videos), "--output", str(poses)]) == 1
    errors = read_errors(poses / ERRORS_FILE)
    assert sorted(errors) == sorted(str(videos / name) for name in (odd.name, "gone.mp4", "loop.avi"))
    assert errors[str(odd)].startswith("UnreadableVideoError: not a readable video")
    assert errors[str(videos / "gone.mp4")].startswith("broken symbolic link: its target")
    assert "missing.mp4" in errors[str(videos / "gone.mp4")]
    assert "broken symbolic link" in errors[str(videos / "loop.avi")]
    assert "3 failed" in capsys.readouterr().out
    assert read_errors(poses / ERRORS_FILE) == errors and errors_text(errors) == (poses / ERRORS_FILE).read_text()


# --- 6. rendering small poses --------------------------------------------------------------------------------


def small_pose(tmp_path: Path, width: int, height: int) -> Path:
    pose = Pose.read((GESTURES_DIR / "signer07" / "hello" / "000.pose").read_bytes())
    pose.body.data[..., :2] *= width / pose.header.dimensions.width
    pose.header.dimensions = PoseHeaderDimensions(width, height, 0)
    path = tmp_path / f"small{width}x{height}.pose"
    with open(path, "wb") as handle:
        pose.write(handle)
    return path


def test_a_small_pose_renders_through_the_cli(tmp_path, capsys):
    path = small_pose(tmp_path, 48, 64)
    assert cli_main(["render", str(path), "--output", str(tmp_path / "small.gif"), "--frames", "4"]) == 0
    gif = Image.open(tmp_path / "small.gif")
    assert gif.n_frames == 4 and gif.size == (192, 256)  # drawn on a canvas scaled to 256 px
    assert (np.asarray(gif.convert("L")) < 200).mean() > 0.002  # a skeleton is drawn
    assert cli_main(["render", str(path), "--output", str(tmp_path / "small.mp4"), "--frames", "3"]) == 0
    assert cv2.VideoCapture(str(tmp_path / "small.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 3


def test_an_undrawable_pose_is_one_clear_line(tmp_path, capsys):
    path = small_pose(tmp_path, 0, 0)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["render", str(path), "--output", str(tmp_path / "zero.gif")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.endswith(f"{path}: the pose header gives a 0x0 canvas; nothing can be drawn on it")
