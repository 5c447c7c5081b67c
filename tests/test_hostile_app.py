"""The SignCLIP app (`signclip_hf/space/app.py`) under hostile and careless input, called directly (fast):
models saved the standard way, label and video limits, rendering failures that must not lose a recognition,
its temporary files, and a fuzz table for `recognize`. One slow test serves the app and stops it with SIGTERM.

Real components only: a tiny model saved with plain `save_pretrained`, real `.pose` files, tiny real videos
written with OpenCV, the loopback Hub.
"""

from __future__ import annotations

import io
import math
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from huggingface_hub import HfApi
from PIL import Image
from pose_format import Pose
from signclip_hf.modeling import SignCLIPForVideoClassification
from signclip_hf.modeling.video_signclip import CACHE_ENV
from transformers import pipeline

from signclip_hf.cli import main as cli_main
from signclip_hf.sample_data import FORMATS_DIR, GESTURES_DIR, HOUSE_POSE, TEST_VIDEO
from signclip_hf.space.app import WORKDIR_PREFIX, AppLimits, SignCLIPApp, remove_stale_workdirs

from fixtures.app_server import serve
from fixtures.launch import free_port
from fixtures.tiny import tiny_config, tiny_processor

CANDIDATES = "house, sun, tree, hello"
LABELS = ["house", "sun", "tree", "hello"]


@pytest.fixture(scope="module")
def pose_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("pose-cache")


@pytest.fixture(autouse=True)
def _pose_cache(monkeypatch, pose_cache):
    monkeypatch.setenv(CACHE_ENV, str(pose_cache))


@pytest.fixture(scope="module")
def app(plain_dir):
    app = SignCLIPApp(str(plain_dir))
    yield app
    app.close()


@pytest.fixture
def limits(app):
    """Lets a test change `app.limits` (read on each request); restored afterwards."""
    saved = app.limits
    yield lambda **changes: setattr(app, "limits", replace(saved, **changes))
    app.limits = saved


def reference(model_dir, pose, labels=LABELS) -> dict[str, float]:
    ranked = pipeline("zero-shot-sign-classification", model=str(model_dir))(str(pose), candidate_labels=labels)
    return {item["label"]: item["score"] for item in ranked}


def error_of(action) -> str:
    with pytest.raises(gr.Error) as raised:
        action()
    return raised.value.message


def write_video(path, frames, fps: float) -> str:
    """A real MJPG AVI of `frames` ((n, H, W, 3) BGR uint8)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return str(path)


def gray_frames(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    return [np.full((height, width, 3), 40 + i % 200, np.uint8) for i in range(count)]


def pose_file(path, transform) -> str:
    pose = Pose.read(HOUSE_POSE.read_bytes())
    transform(pose)
    buffer = io.BytesIO()
    pose.write(buffer)
    Path(path).write_bytes(buffer.getvalue())
    return str(path)


# --- the model: any saved SignCLIP model -------------------------------------------------------------------


def test_app_starts_on_a_plain_save_pretrained_folder(app, plain_dir, tmp_path):
    assert app.zero_shot and app.workdir.name.startswith(f"{WORKDIR_PREFIX}{os.getpid()}-")
    animation, scores = app.recognize(str(HOUSE_POSE), None, CANDIDATES, "en", "ase")
    expected = reference(plain_dir, HOUSE_POSE)
    assert list(scores) == list(expected)
    np.testing.assert_allclose(list(scores.values()), list(expected.values()), atol=1e-6)
    with Image.open(animation) as gif:
        assert gif.format == "GIF" and gif.n_frames == 73

    labels = ["hello", "thank you", "house"]  # a fine-tuned head, saved the standard way too
    config = tiny_config(id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    torch.manual_seed(4)
    SignCLIPForVideoClassification(config).eval().save_pretrained(tmp_path / "islr")
    tiny_processor().save_pretrained(tmp_path / "islr")
    classifier = SignCLIPApp(str(tmp_path / "islr"))
    try:
        assert not classifier.zero_shot and classifier.labels == labels
        _, ranked = classifier.recognize(str(HOUSE_POSE), None, "", "en", "ase")
        want = pipeline("sign-classification", model=str(tmp_path / "islr"))(str(HOUSE_POSE), top_k=3)
        assert list(ranked) == [item["label"] for item in want]
    finally:
        classifier.close()


def test_app_starts_on_a_hub_repo_saved_the_standard_way(hub_env, plain_dir):
    repo = hub_env.new_repo_id("signclip-plain")
    HfApi().create_repo(repo)
    HfApi().upload_folder(repo_id=repo, folder_path=str(plain_dir))
    hub_app = SignCLIPApp(repo)
    try:
        assert hub_app.zero_shot
        _, scores = hub_app.recognize(str(HOUSE_POSE), None, CANDIDATES, "en", "ase")
        expected = reference(plain_dir, HOUSE_POSE)
        assert list(scores) == list(expected)
        np.testing.assert_allclose(list(scores.values()), list(expected.values()), atol=1e-6)
    finally:
        hub_app.close()


def test_app_command_names_a_missing_folder_in_one_line(tmp_path, capsys):
    missing = tmp_path / "no-such-model"
    with pytest.raises(SystemExit, match="^2$"):
        cli_main(["app", str(missing)])
    assert capsys.readouterr().err == f"signclip-hf app: error: model directory not found: {missing}\n"
    with pytest.raises(SystemExit, match="^2$"):
        cli_main(["app", str(missing), "--max-upload-mb", "nan"])  # nan would disable the limit
    assert "positive finite number, got 'nan'" in capsys.readouterr().err


# --- text -------------------------------------------------------------------------------------------------


def test_candidate_glosses_are_capped_and_checked(app):
    def recognize(candidates, spoken="en", sign="ase"):
        return lambda: app.recognize(str(HOUSE_POSE), None, candidates, spoken, sign)

    limits = app.limits
    assert "characters long; this app takes at most 65536" in error_of(  # 500 glosses of 20,000 characters
        recognize(", ".join(["x" * 20_000] * 500))
    )
    assert f"is 300 characters long; at most {limits.max_label_chars} per gloss" in error_of(
        recognize("house, " + "y" * 300)
    )
    assert "501 candidate glosses; this app ranks at most 500" in error_of(
        recognize(", ".join(f"g{i}" for i in range(501)))
    )
    assert "the candidate glosses is not valid Unicode text: character 7" in error_of(recognize("house, \ud800"))
    assert "the sign language is not valid Unicode text" in error_of(recognize("house", sign="a\udcffe"))
    assert "the candidate glosses must be text, got list" in error_of(recognize(["house"]))
    _, scores = app.recognize(str(HOUSE_POSE), None, "house, sun, house", "en", "ase")  # a repeat counts once
    assert sorted(scores) == ["house", "sun"] and math.isclose(sum(scores.values()), 1.0, abs_tol=1e-5)


# --- videos -------------------------------------------------------------------------------------------------


def test_video_limits_do_not_trust_the_container(app, limits, tmp_path):
    """A lying fps header, more frames than the limit allows, and huge frames: refused before decoding."""
    fast = write_video(tmp_path / "fast.avi", gray_frames(40), fps=1000)
    assert re.match("fast.avi: declares 1000 fps.*frame rates outside 1-240 fps are refused",
                    error_of(lambda: app.recognize(fast, None, CANDIDATES, "en", "ase")))  # fmt: skip
    huge = write_video(tmp_path / "huge.avi", [np.zeros((2200, 4000, 3), np.uint8)], fps=25)
    assert "4000x2200 (8.8 MP); the limit is 8.3 MP" in error_of(
        lambda: app.recognize(huge, None, CANDIDATES, "en", "ase")
    )
    limits(max_video_seconds=1.0)
    many = write_video(tmp_path / "many.avi", gray_frames(100), fps=200)  # "0.5 s" by its header
    assert re.match(r"many.avi: .*100 frames.*the limit is 1 s at up to 60 fps \(60 frames\)",
                    error_of(lambda: app.recognize(many, None, CANDIDATES, "en", "ase")))  # fmt: skip


# --- rendering never loses a recognition ----------------------------------------------------------------


def test_a_small_video_is_recognized_and_drawn(app, plain_dir, tmp_path):
    """A 48x64 video (the bundled clip's first 12 frames, downscaled): pose-format's visualizer crashed on it."""
    capture, frames = cv2.VideoCapture(str(TEST_VIDEO)), []
    while len(frames) < 12:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, (48, 64), interpolation=cv2.INTER_AREA))
    capture.release()
    small = write_video(tmp_path / "small.avi", frames, fps=25)
    animation, scores = app.recognize(small, None, CANDIDATES, "en", "ase")
    expected = reference(plain_dir, app._video_pose(small))  # the same cached pose, ranked by the pipeline
    assert list(scores) == list(expected)
    np.testing.assert_allclose(list(scores.values()), list(expected.values()), atol=1e-6)
    with Image.open(animation) as gif:
        assert gif.format == "GIF" and gif.n_frames == len(frames)


def test_a_render_failure_keeps_the_recognition_and_says_why(app, plain_dir, tmp_path):
    """A pose whose header gives a 0x0 canvas ranks (the model does not read the header size), but
    cannot be drawn: the recognition comes back, the animation slot says why, no partial file is left."""

    def no_canvas(pose):
        pose.header.dimensions.width = pose.header.dimensions.height = 0

    flat = pose_file(tmp_path / "flat.pose", no_canvas)
    warning = "^The skeleton could not be drawn \\(flat.pose: .*\\); the recognition is shown"
    with pytest.warns(UserWarning, match=warning) as w:
        animation, scores = app.recognize(flat, None, CANDIDATES, "en", "ase")
    assert str(tmp_path) not in str(w[0].message) and "\n" not in str(w[0].message)
    expected = reference(plain_dir, flat)
    assert list(scores) == list(expected)
    np.testing.assert_allclose(list(scores.values()), list(expected.values()), atol=1e-6)
    with Image.open(animation) as image:  # the animation slot shows the message
        assert image.format == "PNG" and image.size == (app.limits.animation_size,) * 2
    assert not list(app.workdir.glob("*.part.*"))
    animation, _ = app.recognize(str(HOUSE_POSE), None, CANDIDATES, "en", "ase")  # the next one draws
    with Image.open(animation) as gif:
        assert gif.format == "GIF"


# --- temporary files ------------------------------------------------------------------------------------


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_stale_app_folders_of_dead_processes_are_removed(tmp_path):
    dead, alive = dead_pid(), os.getpid()
    stale = tmp_path / f"{WORKDIR_PREFIX}{dead}-abc123"
    running = tmp_path / f"{WORKDIR_PREFIX}{alive}-def456"
    other = tmp_path / f"{WORKDIR_PREFIX}notes"  # not a name the app writes
    target = tmp_path / "elsewhere"
    for folder in (stale, running, other, target):
        folder.mkdir()
        (folder / "a.gif").write_bytes(b"GIF89a")
    link = tmp_path / f"{WORKDIR_PREFIX}{dead}-link"
    link.symlink_to(target, target_is_directory=True)
    assert remove_stale_workdirs(tmp_path) == [stale]
    assert not stale.exists() and (running / "a.gif").exists() and (other / "a.gif").exists()
    assert link.is_symlink() and (target / "a.gif").exists()


def test_animations_are_bounded_and_the_folder_goes_on_close(plain_dir):
    app = SignCLIPApp(str(plain_dir), limits=AppLimits(cached_animations=2))
    clips = sorted((GESTURES_DIR / "signer12").rglob("*.pose"))[:3]
    for clip in clips:
        animation, _ = app.recognize(str(clip), None, CANDIDATES, "en", "ase")
        assert Path(animation).is_file()  # the newest one is always kept
    assert len(list(app.workdir.glob("*.gif"))) == 2
    workdir = app.workdir
    app.close()
    assert not workdir.exists()


def test_fuzz_table_of_bad_recognize_inputs(app, tmp_path):
    """Each bad input: a gr.Error with one clear line (no traceback); answers are always finite."""
    (tmp_path / "empty.pose").write_bytes(b"")
    (tmp_path / "garbage.pose").write_bytes(os.urandom(2000))
    (tmp_path / "garbage.mp4").write_bytes(os.urandom(2000))
    (tmp_path / "notes.txt").write_text("house")
    (tmp_path / "folder.pose").mkdir()
    huge = pose_file(tmp_path / "huge.pose", lambda pose: pose.body.data.__setitem__(Ellipsis, 3e38))
    nan = pose_file(tmp_path / "nan.pose", lambda pose: pose.body.data.__setitem__(Ellipsis, np.nan))
    house = str(HOUSE_POSE)
    bad = [
        (None, None, CANDIDATES, "en", "ase"), ("", None, CANDIDATES, "en", "ase"),
        (str(tmp_path / "empty.pose"), None, CANDIDATES, "en", "ase"),
        (str(tmp_path / "garbage.pose"), None, CANDIDATES, "en", "ase"),
        (str(tmp_path / "garbage.mp4"), None, CANDIDATES, "en", "ase"),
        (str(tmp_path / "notes.txt"), None, CANDIDATES, "en", "ase"),
        (str(FORMATS_DIR / "openpose.pose"), None, CANDIDATES, "en", "ase"),
        (huge, None, CANDIDATES, "en", "ase"), (nan, None, CANDIDATES, "en", "ase"),
        (house, None, "", "en", "ase"), (house, None, " ,\n, ", "en", "ase"), (house, None, None, "en", "ase"),
        (house, None, 42, "en", "ase"), (house, None, CANDIDATES, "xx", "ase"), (house, None, CANDIDATES, "en", "zzz"),
        (house, None, CANDIDATES, None, "ase"), (house, None, CANDIDATES, "en", 3),
        (house, None, CANDIDATES, "en", "<ase>"), (house, None, "x" * 70_000, "en", "ase"),
        (house, None, "\udcff", "en", "ase"),
    ]  # fmt: skip
    for inputs in bad:
        message = error_of(lambda: app.recognize(*inputs))
        assert message and "\n" not in message.strip() and "Traceback" not in message, (inputs[0], inputs[2:], message)
    for candidates in ("ünïcode, 手话, 😀", "a", ",".join(f"g{i}" for i in range(500))):
        _, scores = app.recognize(house, None, candidates, "en", "ase")
        assert all(math.isfinite(value) for value in scores.values())


# --- served: SIGTERM deletes the app's folder and Gradio's copies ----------------------------------------


@pytest.mark.slow
def test_served_app_removes_its_files_when_stopped(plain_dir, tmp_path):
    port, gradio_tmp = free_port(), tmp_path / "gradio"
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "signclip_hf.cli", "app", str(plain_dir), "--port", str(port)]
    env = dict(os.environ, GRADIO_TEMP_DIR=str(gradio_tmp), HF_HUB_OFFLINE="1")
    env[CACHE_ENV] = str(tmp_path / "pose-cache")
    with serve(command, url, env=env) as served:
        folders = list(Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}{served.process.pid}-*"))
        assert len(folders) == 1
        client = Client(url, verbose=False)
        animation, ranked = client.predict(handle_file(str(HOUSE_POSE)), None, CANDIDATES, "en", "ase",
                                           api_name="/recognize")  # fmt: skip
        assert Path(animation).is_file() and ranked["label"] in LABELS
        assert list(folders[0].glob("*.gif")) and [p for p in gradio_tmp.rglob("*") if p.is_file()]
        served.process.terminate()  # SIGTERM, as a Space or a service manager stops it
        assert served.process.wait(timeout=60) == 0
    assert not folders[0].exists()
    # Gradio deleted its copies of the upload and the output; what it may leave is an empty multipart scratch file
    assert [p for p in gradio_tmp.rglob("*") if p.is_file() and p.stat().st_size > 0] == []
