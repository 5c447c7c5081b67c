"""Pipelines (zero-shot, ISLR classification, pose features) and the Inference Endpoints handler."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch
from pose_format import Pose
from transformers import pipeline

from signclip_hf.endpoint.handler import EndpointHandler
from signclip_hf.modeling import (
    SignCLIPForVideoClassification,
    UnknownLanguageError,
    format_prompt,
    read_keypoints,
)
from signclip_hf.pipeline import save_for_pipeline
from signclip_hf.sample_data import HOUSE_POSE
from signclip_hf.testing.tiny import save_tiny, tiny_config, tiny_model, tiny_processor

LABELS = ["house", "sun", "police", "hello"]


@pytest.fixture(scope="module")
def zero_shot_dir(tmp_path_factory):
    return save_for_pipeline(tiny_model(seed=3), tiny_processor(), tmp_path_factory.mktemp("zs") / "model")


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    torch.manual_seed(4)
    labels = ["hello", "thank you", "house"]
    config = tiny_config(id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    model = SignCLIPForVideoClassification(config).eval()
    return save_for_pipeline(model, tiny_processor(), tmp_path_factory.mktemp("islr") / "model")


def expected_logits(sign_language: str = "ase") -> torch.Tensor:
    prompts = [format_prompt(label, "en", sign_language) for label in LABELS]
    inputs = tiny_processor()(text=prompts, poses=[HOUSE_POSE], return_tensors="pt")
    with torch.no_grad():
        return tiny_model(seed=3)(**inputs).logits_per_pose[0]


def test_zero_shot_ranks_labels_with_softmax_scores(zero_shot_dir):
    pipe = pipeline(model=str(zero_shot_dir), trust_remote_code=True)
    assert pipe.task == "zero-shot-sign-classification"
    result = pipe(str(HOUSE_POSE), candidate_labels=LABELS)
    logits = expected_logits()
    order = torch.argsort(logits, descending=True).tolist()
    assert [r["label"] for r in result] == [LABELS[i] for i in order]
    torch.testing.assert_close(torch.tensor([r["logit"] for r in result]), logits[order], atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.tensor([r["score"] for r in result]), logits.softmax(-1)[order], atol=1e-6, rtol=0)
    assert abs(sum(r["score"] for r in result) - 1) < 1e-5
    assert pipe(str(HOUSE_POSE), candidate_labels=LABELS, top_k=2) == result[:2]


def test_zero_shot_accepts_every_pose_input_and_language(zero_shot_dir):
    pipe = pipeline(model=str(zero_shot_dir), trust_remote_code=True)
    data = HOUSE_POSE.read_bytes()
    points, confidence, _ = read_keypoints(HOUSE_POSE)
    array = np.where(confidence[..., None] > 0, points, np.nan)
    expected = pipe(str(HOUSE_POSE), candidate_labels=LABELS)
    for pose in (data, Pose.read(data), array):
        for got, want in zip(pipe(pose, candidate_labels=LABELS), expected):
            assert got["label"] == want["label"] and abs(got["logit"] - want["logit"]) < 1e-4
    gsg = pipe(data, candidate_labels=LABELS, sign_language="gsg")
    logits = expected_logits("gsg")
    assert {r["label"]: r["logit"] for r in gsg} == pytest.approx(dict(zip(LABELS, logits.tolist())), abs=1e-5)
    batch = pipe([data, data], candidate_labels=LABELS)  # a list of poses -> one ranking each
    assert len(batch) == 2 and batch[0] == batch[1]


def test_zero_shot_errors(zero_shot_dir):
    pipe = pipeline(model=str(zero_shot_dir), trust_remote_code=True)
    with pytest.raises(ValueError, match="candidate_labels must be a non-empty list"):
        pipe(str(HOUSE_POSE))
    with pytest.raises(ValueError, match="candidate_labels must be non-empty strings"):
        pipe(str(HOUSE_POSE), candidate_labels=["house", ""])
    # loaded as remote code, so the errors are the remote copies of UnknownLanguageError/CorruptPoseError
    with pytest.raises(ValueError, match="unknown sign language tag <asl>") as error:
        pipe(str(HOUSE_POSE), candidate_labels=LABELS, sign_language="asl")
    assert type(error.value).__name__ == "UnknownLanguageError"
    with pytest.raises(ValueError, match="<13 bytes of .pose data>: not a readable .pose file") as error:
        pipe(b"garbage bytes", candidate_labels=LABELS)
    assert type(error.value).__name__ == "CorruptPoseError"
    local = pipeline("zero-shot-sign-classification", model=tiny_model(), processor=tiny_processor())
    with pytest.raises(UnknownLanguageError):
        local(str(HOUSE_POSE), candidate_labels=LABELS, spoken_language="english")


def test_save_pretrained_keeps_processor_and_pipeline_code(zero_shot_dir, tmp_path):
    pipe = pipeline(model=str(zero_shot_dir), trust_remote_code=True)
    pipe.save_pretrained(tmp_path / "again")  # transformers' own Pipeline.save_pretrained would drop the processor
    files = {p.name for p in (tmp_path / "again").iterdir()}
    assert {"processor_config.json", "tokenizer.json", "pipeline_signclip.py", "processing_signclip.py"} <= files
    reloaded = pipeline(model=str(tmp_path / "again"), trust_remote_code=True)
    assert reloaded(str(HOUSE_POSE), candidate_labels=LABELS) == pipe(str(HOUSE_POSE), candidate_labels=LABELS)


def test_fine_tuned_classifier_gives_standard_classification_output(classifier_dir):
    config = json.loads((classifier_dir / "config.json").read_text())
    assert config["custom_pipelines"] == {
        "sign-classification": {
            "impl": "pipeline_signclip.SignClassificationPipeline", "pt": ["AutoModelForVideoClassification"],
            "type": "multimodal",
        }
    }  # fmt: skip
    pipe = pipeline(model=str(classifier_dir), trust_remote_code=True)
    assert pipe.task == "sign-classification"
    model = SignCLIPForVideoClassification.from_pretrained(classifier_dir).eval()
    with torch.no_grad():
        probs = model(**tiny_processor().feature_extractor([HOUSE_POSE], return_tensors="pt")).logits[0].softmax(-1)
    result = pipe(str(HOUSE_POSE))
    assert [r["label"] for r in result] == [model.config.id2label[i] for i in probs.argsort(descending=True).tolist()]
    assert [r["score"] for r in result] == pytest.approx(sorted(probs.tolist(), reverse=True), abs=1e-6)
    assert len(pipe(str(HOUSE_POSE), top_k=1)) == 1


def test_pose_feature_extraction(zero_shot_dir):
    model, processor = tiny_model(seed=3), tiny_processor()
    pipe = pipeline("pose-feature-extraction", model=model, processor=processor)
    with torch.no_grad():
        expected = model.get_pose_features(**processor(poses=[HOUSE_POSE], return_tensors="pt"))[0]
    assert pipe(str(HOUSE_POSE)) == pytest.approx(expected.tolist(), abs=1e-6)
    torch.testing.assert_close(pipe(str(HOUSE_POSE), return_tensors=True), expected)


def test_endpoint_handler_matches_pipeline(zero_shot_dir):
    handler = EndpointHandler(str(zero_shot_dir))
    payload = base64.b64encode(HOUSE_POSE.read_bytes()).decode()
    result = handler({"inputs": payload, "parameters": {"candidate_labels": LABELS, "sign_language": "ase"}})
    assert json.loads(json.dumps(result)) == result  # JSON-serializable
    expected = pipeline(model=str(zero_shot_dir), trust_remote_code=True)(str(HOUSE_POSE), candidate_labels=LABELS)
    assert [r["label"] for r in result] == [r["label"] for r in expected]
    assert [r["logit"] for r in result] == pytest.approx([r["logit"] for r in expected], abs=1e-5)
    raw_bytes = {"inputs": HOUSE_POSE.read_bytes(), "parameters": {"candidate_labels": LABELS, "top_k": 1}}
    assert handler(raw_bytes) == result[:1]


def test_endpoint_handler_rejects_bad_payloads(zero_shot_dir, classifier_dir):
    handler = EndpointHandler(str(zero_shot_dir), max_pose_bytes=HOUSE_POSE.stat().st_size)
    good = base64.b64encode(HOUSE_POSE.read_bytes()).decode()
    labels = {"candidate_labels": LABELS}
    cases = [
        ("not a dict", 'request body must be a JSON object with "inputs"'),
        ({"parameters": labels}, 'request body must be a JSON object with "inputs"'),
        ({"inputs": "%%%not base64%%%", "parameters": labels}, '"inputs" is not valid base64'),
        ({"inputs": 12, "parameters": labels}, '"inputs" must be a base64 string of a .pose file, got int'),
        ({"inputs": "", "parameters": labels}, '"inputs" is empty'),
        ({"inputs": base64.b64encode(HOUSE_POSE.read_bytes() + b"x").decode(), "parameters": labels}, "too large: "),
        ({"inputs": "A" * (len(good) * 2), "parameters": labels}, '"inputs" is too large'),
        ({"inputs": good}, '"parameters.candidate_labels" is required'),
        ({"inputs": good, "parameters": {"candidate_labels": []}}, '"parameters.candidate_labels" is required'),
        ({"inputs": good, "parameters": ["house"]}, '"parameters" must be a JSON object'),
        ({"inputs": good, "parameters": {**labels, "labels": 1}}, "unknown parameters \\['labels'\\]"),
        ({"inputs": good, "parameters": {**labels, "top_k": 0}}, '"parameters.top_k" must be a positive integer'),
        ({"inputs": base64.b64encode(b"corrupt pose").decode(), "parameters": labels}, "not a readable .pose file"),
        ({"inputs": good, "parameters": {**labels, "sign_language": "xyz"}}, "unknown sign language tag <xyz>"),
    ]
    for payload, message in cases:
        with pytest.raises(ValueError, match=message):
            handler(payload)
    classifier = EndpointHandler(str(classifier_dir))
    assert [r["label"] for r in classifier({"inputs": good, "parameters": {"top_k": 3}})] != []
    with pytest.raises(ValueError, match="fine-tuned classifier with fixed labels"):
        classifier({"inputs": good, "parameters": labels})


def test_registered_task_loads_a_directory_saved_without_pipeline_code(tmp_path):
    model_dir = save_tiny(tmp_path / "plain", seed=3)  # no custom_pipelines: the local registry is used
    pipe = pipeline("zero-shot-sign-classification", model=str(model_dir))
    assert type(pipe).__module__ == "signclip_hf.modeling.pipeline_signclip"
    result = pipe(str(HOUSE_POSE), candidate_labels=LABELS)
    expected = dict(zip(LABELS, expected_logits().tolist()))
    assert {r["label"]: r["logit"] for r in result} == pytest.approx(expected, abs=1e-5)
