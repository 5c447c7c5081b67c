"""Pipelines (zero-shot, ISLR classification, pose features) and the Inference Endpoints handler."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pose_format import Pose
from signclip_hf.modeling import (
    SignCLIPForVideoClassification,
    SignCLIPModel,
    UnknownLanguageError,
    format_prompt,
    read_keypoints,
)
from transformers import pipeline

from signclip_hf.endpoint.handler import MAX_LABEL_CHARS, MAX_LABELS, EndpointHandler, check_finite_scores
from signclip_hf.pipeline import save_for_pipeline
from signclip_hf.sample_data import GESTURES_DIR, HOUSE_POSE

from fixtures.isolation import run_without_signclip_hf
from fixtures.tiny import save_tiny, tiny_config, tiny_model, tiny_processor

LABELS = ["house", "sun", "police", "hello"]
GESTURE = GESTURES_DIR / "signer12" / "thank_you" / "004.pose"


def mixed_clips() -> list:
    """Three clips of different lengths (73, 30 and 41 frames), as a path, `.pose` bytes and an array."""
    points, confidence, _ = read_keypoints(HOUSE_POSE)
    return [str(HOUSE_POSE), GESTURE.read_bytes(), np.where(confidence[..., None] > 0, points, np.nan)[:41]]


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
    # the remote copies (package absent) and the in-library classes raise errors of the same names
    with pytest.raises(ValueError, match="unknown sign language tag <asl>") as error:
        pipe(str(HOUSE_POSE), candidate_labels=LABELS, sign_language="asl")
    assert type(error.value).__name__ == "UnknownLanguageError"
    with pytest.raises(ValueError, match="<13 bytes of .pose data>: not a readable .pose file") as error:
        pipe(b"garbage bytes", candidate_labels=LABELS)
    assert type(error.value).__name__ == "CorruptPoseError"
    local = pipeline("zero-shot-sign-classification", model=tiny_model(), processor=tiny_processor())
    with pytest.raises(UnknownLanguageError):
        local(str(HOUSE_POSE), candidate_labels=LABELS, spoken_language="english")
    with pytest.raises(ValueError, match="spoken_language must be a language code string .* got \\['en'\\]"):
        pipe(str(HOUSE_POSE), candidate_labels=LABELS, spoken_language=["en"])
    with pytest.raises(ValueError, match="sign_language must be a language code string .* got 3"):
        pipe(str(HOUSE_POSE), candidate_labels=LABELS, sign_language=3)
    for top_k in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="top_k must be a positive integer"):
            pipe(str(HOUSE_POSE), candidate_labels=LABELS, top_k=top_k)


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
        expected = model.get_pose_features(**processor(poses=[HOUSE_POSE], return_tensors="pt")).pooler_output[0]
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
        ({"inputs": [good, good], "parameters": labels}, "send one request per clip"),
        ({"inputs": good, "parameters": {**labels, "spoken_language": 5}}, "spoken_language\" must be a .* got int"),
        ({"inputs": good, "parameters": {**labels, "sign_language": ["ase"]}}, "sign_language\" must be .* got list"),
        ({"inputs": good, "parameters": {**labels, "sign_language": None}}, "sign_language\" must be .* NoneType"),
        ({"inputs": good, "parameters": {"candidate_labels": {"house": 1}}}, "candidate_labels\" is required"),
        ({"inputs": good, "parameters": {"candidate_labels": ["house", 3]}}, "candidate_labels\\[1\\] must be a non-e"),
        ({"inputs": good, "parameters": {"candidate_labels": [None]}}, "candidate_labels\\[0\\] must be a non-e"),
        ({"inputs": good, "parameters": {"candidate_labels": [" "]}}, "candidate_labels\\[0\\] must be a non-e"),
        ({"inputs": good, "parameters": {"candidate_labels": ["house", "x" * 10_000]}}, "\\[1\\] is 10000 char"),
        ({"inputs": good, "parameters": {"candidate_labels": ["x" * MAX_LABEL_CHARS] * 300}}, "characters in all"),
        ({"inputs": good, "parameters": {"candidate_labels": ["house"] * (MAX_LABELS + 1)}}, "too many candidate"),
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


def assert_same_results(batched: list, one_at_a_time: list) -> None:
    """Same count, same labels in the same order, scores/logits/embeddings within 1e-5."""
    assert len(batched) == len(one_at_a_time)
    for got, want in zip(batched, one_at_a_time):
        assert len(got) == len(want)
        if isinstance(want[0], dict):
            assert [r["label"] for r in got] == [r["label"] for r in want]
            for key in set(want[0]) - {"label"}:
                assert [r[key] for r in got] == pytest.approx([r[key] for r in want], abs=1e-5)
        else:  # an embedding
            assert got == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize(
    "kind, kwargs",
    [
        ("zero-shot", {"candidate_labels": LABELS}),
        ("zero-shot", {"candidate_labels": LABELS, "top_k": 2, "sign_language": "gsg"}),
        ("classifier", {}),
        ("classifier", {"top_k": 2}),
        ("features", {}),
    ],
)
def test_batched_equals_one_at_a_time(kind, kwargs, zero_shot_dir, classifier_dir):
    """Lists of clips of different lengths (padded together) with batch sizes 1, 2, 3 = one call per clip."""
    model_dir = classifier_dir if kind == "classifier" else zero_shot_dir
    task = "pose-feature-extraction" if kind == "features" else None
    pipe = pipeline(task, model=str(model_dir), trust_remote_code=True)
    clips = mixed_clips()
    one_at_a_time = [pipe(clip, **kwargs) for clip in clips]
    expected_length = {"zero-shot": kwargs.get("top_k", len(LABELS)), "classifier": kwargs.get("top_k", 3)}
    assert [len(r) for r in one_at_a_time] == [expected_length.get(kind, 32)] * 3  # 32: the embedding size
    assert len({str(r) for r in one_at_a_time}) == 3  # three different clips, three different answers
    for batch_size in (1, 2, 3):
        assert_same_results(pipe(clips, batch_size=batch_size, **kwargs), one_at_a_time)
    assert_same_results(pipe(clips[1:2], batch_size=2, **kwargs), one_at_a_time[1:2])  # a list of one
    assert pipe([], batch_size=2, **kwargs) == []
    batched_at_construction = pipeline(task, model=str(model_dir), trust_remote_code=True, batch_size=2)
    assert_same_results(batched_at_construction(clips, **kwargs), one_at_a_time)


def test_batched_feature_tensors_keep_their_shape(zero_shot_dir):
    pipe = pipeline("pose-feature-extraction", model=str(zero_shot_dir), trust_remote_code=True)
    clips = mixed_clips()
    single = [pipe(clip, return_tensors=True) for clip in clips]
    batched = pipe(clips, batch_size=2, return_tensors=True)
    assert [tuple(t.shape) for t in batched] == [tuple(t.shape) for t in single] == [(32,)] * 3
    for got, want in zip(batched, single):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_non_finite_outputs_are_refused(tmp_path):
    """A damaged model that computes NaN/inf raises a clear ValueError: NaN is never an answer (nor invalid JSON)."""
    model = tiny_model(seed=3)
    with torch.no_grad():
        model.pose_model.frame_tokenizer.linear2.bias.fill_(float("inf"))
    model_dir = save_for_pipeline(model, tiny_processor(), tmp_path / "damaged")
    zero_shot = pipeline(model=str(model_dir), trust_remote_code=True)
    with pytest.raises(ValueError, match="non-finite logits"):
        zero_shot(str(HOUSE_POSE), candidate_labels=LABELS)
    features = pipeline("pose-feature-extraction", model=model, processor=tiny_processor())
    with pytest.raises(ValueError, match="non-finite pose embedding"):
        features(mixed_clips(), batch_size=2)
    classifier = SignCLIPForVideoClassification(tiny_config(id2label={0: "a", 1: "b"})).eval()
    classifier.pose_model.load_state_dict(model.pose_model.state_dict())
    with pytest.raises(ValueError, match="non-finite logits"):
        pipeline("sign-classification", model=classifier, processor=tiny_processor())(str(HOUSE_POSE))
    handler = EndpointHandler(str(model_dir))
    with pytest.raises(ValueError, match="non-finite logits"):
        handler({"inputs": HOUSE_POSE.read_bytes(), "parameters": {"candidate_labels": LABELS}})
    # the handler's own last check also covers repositories whose pipeline code predates the check above
    with pytest.raises(ValueError, match="non-finite score \\(nan\\) for label 'house'"):
        check_finite_scores([{"label": "house", "score": float("nan"), "logit": 1.0}])
    assert check_finite_scores([{"label": "house", "score": 1.0, "logit": 2.0}]) == [
        {"label": "house", "score": 1.0, "logit": 2.0}
    ]


def test_endpoint_reports_a_pose_without_people_as_a_bad_request(zero_shot_dir):
    """A `.pose` file with people = 0: the pose error (a ValueError, HTTP 400) with its message, not a 500."""
    from pose_format import Pose
    from pose_format.numpy import NumPyPoseBody

    pose = Pose.read(HOUSE_POSE.read_bytes())
    points = pose.body.data.shape[2]
    empty = NumPyPoseBody(fps=pose.body.fps, data=np.zeros((5, 0, points, 3)), confidence=np.zeros((5, 0, points)))
    buffer = io.BytesIO()
    Pose(pose.header, empty).write(buffer)
    handler = EndpointHandler(str(zero_shot_dir))
    request = {"inputs": base64.b64encode(buffer.getvalue()).decode(), "parameters": {"candidate_labels": LABELS}}
    with pytest.raises(ValueError, match="people = 0") as error:
        handler(request)
    assert "InvalidPoseError" in [cls.__name__ for cls in type(error.value).__mro__]


@pytest.mark.slow
def test_pretrained_model_directory_is_self_contained(tmp_path):
    """`pretrain`'s final model loads as a pipeline where signclip_hf cannot be imported (as `demo` uses it too)."""
    from signclip_hf.data import build_dataset
    from signclip_hf.training import PretrainConfig, pretrain

    rows = (GESTURES_DIR / "metadata.csv").read_text().splitlines()
    (tmp_path / "metadata.csv").write_text("\n".join(rows[:9]) + "\n")  # 8 clips: one batch, one step
    build_dataset(GESTURES_DIR, metadata=tmp_path / "metadata.csv", output=tmp_path / "dataset")
    config = PretrainConfig.from_yaml(
        Path(__file__).resolve().parents[1] / "examples" / "configs" / "pretrain_tiny.yaml",
        [
            f"model.from_checkpoint={save_tiny(tmp_path / 'tiny', seed=5)}", f"data.paths=[{tmp_path / 'dataset'}]",
            f"output_dir={tmp_path / 'run'}", "max_steps=1", "checkpoint_every=null", "eval_every=null",
            "data.augmentation=null", "data.validation_split=null",
        ],
    )  # fmt: skip
    final = pretrain(config)
    assert json.loads((final / "config.json").read_text())["custom_pipelines"]["zero-shot-sign-classification"]
    model, processor = SignCLIPModel.from_pretrained(final).eval(), tiny_processor()
    prompts = [format_prompt(label) for label in LABELS]
    with torch.no_grad():
        expected = model(**processor(text=prompts, poses=[HOUSE_POSE], return_tensors="pt")).logits_per_pose[0]
    result = run_without_signclip_hf(
        f"""
        import json
        from transformers import pipeline
        pipe = pipeline(model={str(final)!r}, trust_remote_code=True)
        ranking = pipe({str(HOUSE_POSE)!r}, candidate_labels={LABELS!r})
        print(json.dumps({{"task": pipe.task, "module": type(pipe).__module__, "ranking": ranking}}))
        """,
        tmp_path,
        HF_HUB_OFFLINE="1",
    )
    assert result["task"] == "zero-shot-sign-classification" and not result["module"].startswith("signclip_hf")
    logits = {r["label"]: r["logit"] for r in result["ranking"]}
    assert logits == pytest.approx(dict(zip(LABELS, expected.tolist())), abs=1e-5)
