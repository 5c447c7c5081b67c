"""The Inference Endpoints handler (`signclip_hf/endpoint/handler.py`) under hostile and careless requests.

Real components: a tiny model saved the standard way (`save_pretrained` of model and processor, no pipeline
code), real `.pose` files and tiny real videos written with OpenCV. Every bad request must raise a
`ValueError` (the endpoint toolkit's HTTP 400) with one clear line, and no answer may hold NaN/inf.
"""

from __future__ import annotations

import base64
import io
import json
import math

import cv2
import numpy as np
import pytest
import torch
from pose_format import Pose
from signclip_hf.modeling import SignCLIPForVideoClassification
from signclip_hf.modeling.video_signclip import CACHE_ENV
from transformers import pipeline

from signclip_hf.endpoint import HANDLER_FILE
from signclip_hf.endpoint.handler import MAX_LABEL_CHARS, MAX_LABELS, EndpointHandler
from signclip_hf.sample_data import FORMATS_DIR, HOUSE_POSE

from fixtures.isolation import run_without_signclip_hf
from fixtures.tiny import tiny_config, tiny_processor

LABELS = ["house", "sun", "police", "hello"]


@pytest.fixture(scope="module")
def handler(plain_dir):
    return EndpointHandler(str(plain_dir))


@pytest.fixture(autouse=True)
def _pose_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "pose-cache"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_video(path, frames: int, fps: float, width: int = 64, height: int = 48) -> str:
    """A tiny real MJPG AVI: gray frames with a moving square (no person in it)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((height, width, 3), 90, np.uint8)
        frame[: min(height, 8), (i * 3) % max(1, width - 8) :][:, :8] = 250
        writer.write(frame)
    writer.release()
    return str(path)


def pose_bytes(transform) -> bytes:
    """HOUSE_POSE with `transform(pose)` applied, as `.pose` bytes."""
    pose = Pose.read(HOUSE_POSE.read_bytes())
    transform(pose)
    buffer = io.BytesIO()
    pose.write(buffer)
    return buffer.getvalue()


def test_handler_serves_a_folder_saved_with_plain_save_pretrained(plain_dir, handler, tmp_path):
    """The task comes from config.json: zero-shot for a SignCLIPModel, classification for a fine-tuned head."""
    result = handler({"inputs": b64(HOUSE_POSE.read_bytes()), "parameters": {"candidate_labels": LABELS}})
    expected = pipeline("zero-shot-sign-classification", model=str(plain_dir))(str(HOUSE_POSE), candidate_labels=LABELS)
    assert [r["label"] for r in result] == [r["label"] for r in expected]
    assert [r["logit"] for r in result] == pytest.approx([r["logit"] for r in expected], abs=1e-5)

    labels = ["hello", "thank you", "house"]
    config = tiny_config(id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    torch.manual_seed(4)
    SignCLIPForVideoClassification(config).eval().save_pretrained(tmp_path / "islr")
    tiny_processor().save_pretrained(tmp_path / "islr")
    classifier = EndpointHandler(str(tmp_path / "islr"))
    assert not classifier.zero_shot
    ranked = classifier({"inputs": b64(HOUSE_POSE.read_bytes()), "parameters": {"top_k": 3}})
    want = pipeline("sign-classification", model=str(tmp_path / "islr"))(str(HOUSE_POSE), top_k=3)
    assert [r["label"] for r in ranked] == [r["label"] for r in want]
    assert [r["score"] for r in ranked] == pytest.approx([r["score"] for r in want], abs=1e-6)

    with pytest.raises(FileNotFoundError, match=f"^model directory not found: {tmp_path / 'missing'}$"):
        EndpointHandler(str(tmp_path / "missing"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ValueError, match="not a SignCLIP model \\(config.json has model_type 'bert'\\)"):
        EndpointHandler(str(tmp_path / "other"))


def test_non_unicode_and_repeated_labels_are_bad_requests(handler):
    good = b64(HOUSE_POSE.read_bytes())
    cases = [
        ({"candidate_labels": ["\ud800"]}, "candidate_labels\\[0\\] is not valid Unicode text: character 0 is '\\\\ud800'"),
        ({"candidate_labels": ["house", "ho\udcffuse"]}, "candidate_labels\\[1\\] is not valid Unicode text: character 2"),
        ({"candidate_labels": LABELS, "sign_language": "as\ud800"}, '"parameters.sign_language" is not valid Unicode'),
        ({"candidate_labels": LABELS, "spoken_language": "\udcff"}, '"parameters.spoken_language" is not valid Unicode'),
        ({"candidate_labels": ["house", "sun", "house"]}, "candidate_labels\\[2\\] 'house' repeats candidate_labels\\[0\\]"),
        ({"candidate_labels": ["house", " house "]}, "candidate_labels\\[1\\] 'house' repeats candidate_labels\\[0\\]"),
    ]  # fmt: skip
    for parameters, message in cases:
        with pytest.raises(ValueError, match=message):
            handler({"inputs": good, "parameters": parameters})
    # distinct labels still rank; the probabilities of the whole list sum to one (nothing is split)
    result = handler({"inputs": good, "parameters": {"candidate_labels": LABELS}})
    assert sorted(r["label"] for r in result) == sorted(LABELS)
    assert sum(r["score"] for r in result) == pytest.approx(1.0, abs=1e-5)


def test_video_limits_do_not_trust_the_container(plain_dir, tmp_path):
    """A lying fps header, too many frames and huge frames are refused before any frame is decoded."""
    handler = EndpointHandler(str(plain_dir), max_video_seconds=1.0)
    labels = {"candidate_labels": LABELS}
    fast = write_video(tmp_path / "fast.avi", 40, fps=1000)  # 0.04 s "long" by its header
    many = write_video(tmp_path / "many.avi", 100, fps=200)  # 0.5 s by its header, 100 frames
    huge = write_video(tmp_path / "huge.avi", 1, fps=25, width=4000, height=2200)  # 8.8 MP
    cases = [
        (fast, "declares 1000 fps.*frame rates outside 1-240 fps are refused"),  # the video code's own words
        (many, "100 frames.*the limit is 1 s at up to 60 fps \\(60 frames\\)"),
        (huge, "4000x2200 \\(8.8 MP\\); the limit is 8.3 MP"),
    ]
    for path, message in cases:
        with pytest.raises(ValueError, match=message) as raised:
            handler({"inputs": b64(open(path, "rb").read()), "parameters": labels})
        assert raised.value.__class__.__name__ in ("InvalidVideoError", "VideoTooLongError", "VideoTooLargeError")
    assert EndpointHandler(str(plain_dir)).video_config.max_megapixels == 8.3


def test_fuzz_table_of_bad_requests(handler):
    """Each bad request: a ValueError with one clear line (HTTP 400), in well under a second each; good
    requests among them answer valid JSON (no NaN/inf)."""
    good = b64(HOUSE_POSE.read_bytes())
    labels = {"candidate_labels": LABELS}
    openpose = b64((FORMATS_DIR / "openpose.pose").read_bytes())
    huge_coordinates = b64(pose_bytes(lambda pose: pose.body.data.__setitem__(Ellipsis, 3e38)))
    nan_coordinates = b64(pose_bytes(lambda pose: pose.body.data.__setitem__(Ellipsis, np.nan)))
    truncated = b64(HOUSE_POSE.read_bytes()[: HOUSE_POSE.stat().st_size // 2])
    bad = [
        None, [], 3, "inputs", {"input": good}, {"inputs": None}, {"inputs": 1.5}, {"inputs": float("nan")},
        {"inputs": {"b64": good}}, {"inputs": [good]}, {"inputs": []}, {"inputs": True},
        {"inputs": "=" * 8, "parameters": labels}, {"inputs": "ab\u00e9c", "parameters": labels},
        {"inputs": "\ud800", "parameters": labels}, {"inputs": b64(b"\x00" * 64), "parameters": labels},
        {"inputs": b64(b"RIFF\x00\x00\x00\x00AVI " + b"\x00" * 300), "parameters": labels},
        {"inputs": openpose, "parameters": labels}, {"inputs": truncated, "parameters": labels},
        {"inputs": huge_coordinates, "parameters": labels}, {"inputs": nan_coordinates, "parameters": labels},
        {"inputs": good, "parameters": "house"}, {"inputs": good, "parameters": 1},
        {"inputs": good, "parameters": {"candidate_labels": None}},
        {"inputs": good, "parameters": {"candidate_labels": ""}},
        {"inputs": good, "parameters": {"candidate_labels": [[]]}},
        {"inputs": good, "parameters": {"candidate_labels": [["house"]]}},
        {"inputs": good, "parameters": {"candidate_labels": [1.5]}},
        {"inputs": good, "parameters": {"candidate_labels": [float("nan")]}},
        {"inputs": good, "parameters": {"candidate_labels": ["house", "sun", "house"]}},
        {"inputs": good, "parameters": {"candidate_labels": ["hou\ud800se"]}},
        {"inputs": good, "parameters": {"candidate_labels": ["x" * (MAX_LABEL_CHARS + 1)]}},
        {"inputs": good, "parameters": {"candidate_labels": ["x" * 20_000] * 500}},
        {"inputs": good, "parameters": {"candidate_labels": [f"g{i}" for i in range(MAX_LABELS + 1)]}},
        {"inputs": good, "parameters": {**labels, "top_k": "3"}},
        {"inputs": good, "parameters": {**labels, "top_k": 3.0}},
        {"inputs": good, "parameters": {**labels, "top_k": float("nan")}},
        {"inputs": good, "parameters": {**labels, "top_k": True}},
        {"inputs": good, "parameters": {**labels, "top_k": -1}},
        {"inputs": good, "parameters": {**labels, "spoken_language": ""}},
        {"inputs": good, "parameters": {**labels, "sign_language": "<ase>"}},
        {"inputs": good, "parameters": {**labels, "sign_language": {"code": "ase"}}},
        {"inputs": good, "parameters": {**labels, "extra": None}},
    ]  # fmt: skip
    for request in bad:
        with pytest.raises(ValueError) as raised:
            handler(request)
        message = str(raised.value)
        assert message and "\n" not in message and "Traceback" not in message, (repr(request)[:120], message)
    odd_but_fine = [
        {"inputs": good, "parameters": {"candidate_labels": "house"}},  # one label
        {"inputs": good, "parameters": {**labels, "top_k": 10**30}},  # more than there are: all of them
        {"inputs": good, "parameters": None},
        {"inputs": HOUSE_POSE.read_bytes(), "parameters": {"candidate_labels": ["ünïcode", "手话", "😀"]}},
    ]
    for request in odd_but_fine:
        try:
            result = handler(request)
        except ValueError as error:  # a refusal is fine too, if it is one clear line
            assert "\n" not in str(error)
            continue
        text = json.dumps(result, allow_nan=False)  # raises on NaN/inf
        assert all(math.isfinite(r["score"]) and math.isfinite(r["logit"]) for r in json.loads(text))


@pytest.mark.slow
def test_without_signclip_hf_a_folder_without_pipeline_code_is_one_clear_error(plain_dir, tmp_path):
    """On an endpoint or in a Space (no signclip-hf), a plain `save_pretrained` folder has no pipeline code:
    the handler says so and how to fix it, instead of transformers' "cannot infer task"."""
    code = f"""
        import importlib.util, json
        spec = importlib.util.spec_from_file_location("handler", {str(HANDLER_FILE)!r})
        handler = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(handler)
        try:
            handler.EndpointHandler({str(plain_dir)!r})
        except ValueError as error:
            print(json.dumps({{"error": str(error)}}))
        """
    result = run_without_signclip_hf(code, tmp_path)
    assert result["error"] == (
        f"{plain_dir}: the model was saved without its pipeline code (no `custom_pipelines` in config.json): "
        "save it with `signclip_hf.pipeline.save_for_pipeline` or push it with `signclip-hf push`, or install "
        "signclip-hf here"
    )
