"""CLIP habits: what a transformers CLIP user types works on SignCLIP (processor, features, pipelines, errors)."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch
from signclip_hf.modeling import SignCLIPFeatureExtractor, read_keypoints
from transformers import AutoModel, AutoProcessor, pipeline
from transformers.modeling_outputs import BaseModelOutputWithPooling

import signclip_hf  # noqa: F401  registers the in-library classes and pipelines
from signclip_hf.model_factory import ModelSpec, build_model, build_processor
from signclip_hf.pipeline import save_for_pipeline
from signclip_hf.sample_data import GESTURES_DIR, HOUSE_POSE

from fixtures.tiny import save_tiny, tiny_model, tiny_processor

PROMPTS = ["<en> <ase> house", "<en> <ase> the sun is shining today"]
LABELS = ["house", "sun", "hello"]


def three_clips() -> list:
    """Three clips of different lengths (73, 30 and 41 frames): a path, `.pose` bytes and an array."""
    points, confidence, _ = read_keypoints(HOUSE_POSE)
    gesture = GESTURES_DIR / "signer12" / "thank_you" / "004.pose"
    return [str(HOUSE_POSE), gesture.read_bytes(), np.where(confidence[..., None] > 0, points, np.nan)[:41]]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_for_pipeline(tiny_model(seed=3), tiny_processor(), tmp_path_factory.mktemp("habits") / "model")


def test_processor_call_from_the_clip_docs():
    processor = tiny_processor()
    inputs = processor(text=PROMPTS, poses=[HOUSE_POSE], return_tensors="pt", padding=True)
    lengths = inputs["attention_mask"].sum(1)
    assert inputs["input_ids"].shape == (2, int(lengths.max())) and lengths[0] < lengths[1]
    assert inputs["pose_values"].shape == (1, 73, 609) and inputs["pose_attention_mask"].shape == (1, 73)
    padded = processor(text=PROMPTS, return_tensors="pt", padding="max_length", max_length=20)
    assert padded["input_ids"].shape == (2, 20)
    torch.testing.assert_close(padded["input_ids"][:, : inputs["input_ids"].shape[1]], inputs["input_ids"])
    long_prompt = "<en> <ase> " + "house " * 100
    assert processor(text=[long_prompt], return_tensors="pt")["input_ids"].shape == (1, 63)  # released default
    cut = processor(text=[long_prompt], return_tensors="pt", truncation=True, max_length=10)["input_ids"]
    assert cut.shape == (1, 10) and cut[0, -1].item() == processor.tokenizer.sep_token_id
    nested = processor(text=PROMPTS, return_tensors="pt", text_kwargs={"padding": "max_length", "max_length": 16})
    assert nested["input_ids"].shape == (2, 16)
    with pytest.raises(TypeError, match="unexpected keyword argument.*'paddin'"):
        processor(text=PROMPTS, paddin=True)
    for nested in ({"text_kwargs": {"max_lenght": 5}}, {"common_kwargs": {"bogus": 1}}):  # nested names too
        with pytest.raises(TypeError, match=r"unexpected text keyword argument\(s\) \['(max_lenght|bogus)'\]"):
            processor(text=PROMPTS, **nested)
    with pytest.raises(TypeError, match=r"text keyword argument\(s\) \['padding'\] without text"):
        processor(poses=three_clips(), padding="max_length")  # would otherwise be ignored silently


def test_saved_text_defaults_are_merged(tmp_path):
    processor = tiny_processor()
    processor.text_max_length = 8  # saved with the processor, reloaded as its default
    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert reloaded.text_max_length == 8
    assert reloaded(text=["<en> <ase> " + "house " * 20], return_tensors="pt")["input_ids"].shape == (1, 8)
    assert reloaded(text=["<en> <ase> house"], return_tensors="pt", max_length=4)["input_ids"].shape == (1, 4)


def test_untagged_prompt_warns_once_naming_the_trained_tags(tmp_path):
    processor = tiny_processor()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        processor(text=PROMPTS)  # tagged: no warning
        processor(text=["house"])
        processor(text=["sun"])
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 1 and "'house' has no language tags" in messages[0] and "'<en> <ase>'" in messages[0]
    custom = tiny_processor()
    custom.prompt_tags = ["<de> <gsg>", "<en> <bfi>"]
    custom.save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="tagged '<de> <gsg>', '<en> <bfi>'"):
        AutoProcessor.from_pretrained(tmp_path)(text=["Haus"])


def test_pretraining_records_the_prompt_tags_it_trained_with():
    from datasets import Dataset

    from signclip_hf.training.pretrain import record_prompt_tags

    processor = tiny_processor()
    rows = {"text": ["Haus", "Sonne", "sun"], "spoken_language": ["de", "de", "en"], "sign_language": ["gsg", "gsg", "bfi"]}
    record_prompt_tags(processor, Dataset.from_dict(rows), "text")
    assert processor.prompt_tags == ["<de> <gsg>", "<en> <bfi>"]
    record_prompt_tags(processor, Dataset.from_dict({"label": ["x"]}), "text")  # no prompts to learn from: kept
    assert processor.prompt_tags == ["<de> <gsg>", "<en> <bfi>"]


def test_get_features_return_the_pooled_embedding_like_clip():
    model, processor = tiny_model(seed=1), tiny_processor()
    inputs = processor(text=PROMPTS, poses=three_clips(), return_tensors="pt", padding=True)
    with torch.no_grad():
        text = model.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        pose = model.get_pose_features(
            pose_values=inputs["pose_values"], pose_attention_mask=inputs["pose_attention_mask"]
        )
        out = model(**inputs)
    assert isinstance(text, BaseModelOutputWithPooling) and isinstance(pose, BaseModelOutputWithPooling)
    assert text.pooler_output.shape == (2, 32) and pose.pooler_output.shape == (3, 32)
    assert pose.last_hidden_state.shape == (3, 73 + 2, 32)  # [CLS] frames [SEP]
    torch.testing.assert_close(text.pooler_output, out.text_embeds)
    torch.testing.assert_close(pose.pooler_output, out.pose_embeds)
    torch.testing.assert_close(out.logits_per_pose, pose.pooler_output @ text.pooler_output.t())


def test_readme_pipeline_lines_verbatim(model_dir):
    DIR = str(model_dir)
    pipe = pipeline("zero-shot-sign-classification", model=DIR)  # no trust_remote_code: in-library classes
    assert type(pipe).__module__ == "signclip_hf.modeling.pipeline_signclip"
    result = pipe(str(HOUSE_POSE), candidate_labels=LABELS)
    assert [r["label"] for r in result] and abs(sum(r["score"] for r in result) - 1) < 1e-5
    features = pipeline("pose-feature-extraction", model=DIR)(str(HOUSE_POSE))
    assert len(features) == 32
    assert pipeline(model=DIR).task == "zero-shot-sign-classification"  # task read from the saved config
    remote = pipeline(model=DIR, trust_remote_code=True)  # the README's line
    assert remote.task == "zero-shot-sign-classification"
    # with the package imported, the in-library pipeline takes precedence over the saved remote copy (the remote
    # copy itself runs in tests/test_remote_code.py, in a process without signclip_hf)
    assert type(remote).__module__ == "signclip_hf.modeling.pipeline_signclip"
    assert remote(str(HOUSE_POSE), candidate_labels=LABELS) == result


@pytest.mark.parametrize("task", ["zero-shot-sign-classification", "pose-feature-extraction"])
def test_batch_size_2_over_3_inputs_equals_one_at_a_time(model_dir, task):
    pipe = pipeline(task, model=str(model_dir))
    kwargs = {"candidate_labels": LABELS} if task.startswith("zero") else {}
    clips = three_clips()
    batched = pipe(clips, batch_size=2, **kwargs)
    single = [pipe(clip, **kwargs) for clip in clips]
    assert len(batched) == 3
    for got, want in zip(batched, single):
        if task.startswith("zero"):
            assert [r["label"] for r in got] == [r["label"] for r in want]
            np.testing.assert_allclose([r["logit"] for r in got], [r["logit"] for r in want], atol=1e-5)
        else:
            np.testing.assert_allclose(got, want, atol=1e-5)


def test_sign_classification_on_a_contrastive_model_is_refused(tmp_path):
    directory = save_tiny(tmp_path / "contrastive")
    with pytest.raises(ValueError, match=f"{tmp_path / 'contrastive'} has no trained classification head .* zero-shot"):
        pipeline("sign-classification", model=str(directory))


@pytest.mark.parametrize(
    "load",
    [
        AutoModel.from_pretrained,
        AutoProcessor.from_pretrained,
        lambda path: pipeline("zero-shot-sign-classification", model=path),
    ],
    ids=["AutoModel", "AutoProcessor", "pipeline"],
)
def test_wrong_absolute_path_fails_at_once_naming_it(tmp_path, load):
    missing = str(tmp_path / "missing")
    started = time.perf_counter()
    with pytest.raises(OSError, match=missing):
        load(missing)
    assert time.perf_counter() - started < 1


def test_overlong_pose_values_are_refused_by_the_model():
    model = tiny_model()
    with torch.no_grad(), pytest.raises(ValueError, match="pose_values has 257 frames .* max_frames=256"):
        model.get_pose_features(torch.zeros(1, 257, 609))
    fitted = tiny_processor().feature_extractor.pad([np.ones((400, 609), dtype=np.float32)], return_tensors="pt")
    assert fitted["pose_values"].shape == (1, 256, 609)  # the feature extractor owns the long-clip policy


def test_right_hand_model_from_model_spec_defaults_builds_and_embeds():
    spec = ModelSpec(pose_layers=1, keypoint_layout="right_hand")  # mirroring: off (one hand cannot mirror)
    model, processor = build_model(spec).eval(), build_processor(spec)
    assert not processor.feature_extractor.mirror_left_handed and model.config.pose_config.input_dim == 63
    with torch.no_grad():
        clips = three_clips()[:2] + [str(HOUSE_POSE)]  # files (arrays are in the holistic order)
        embeds = model.get_pose_features(**processor(poses=clips, return_tensors="pt")).pooler_output
    assert embeds.shape == (3, model.config.embed_dim) and torch.isfinite(embeds).all()
    assert ModelSpec().mirrors  # the holistic layout still mirrors left-handed clips by default
    with pytest.raises(ValueError, match="mirror_left_handed=True .* needs a keypoint layout with both hands"):
        SignCLIPFeatureExtractor(keypoint_layout="right_hand", mirror_left_handed=True)


def test_feature_extractor_and_model_must_agree():
    """`max_frames` has one home per saved model; a feature extractor that keeps more frames, or another layout,
    than the model takes is refused where the two meet (pipelines, `loading.load_model`)."""
    with pytest.raises(ValueError, match="max_frames=300 frames but the model has positions for 256"):
        pipeline(
            "pose-feature-extraction", model=tiny_model(), feature_extractor=SignCLIPFeatureExtractor(max_frames=300)
        )
    with pytest.raises(ValueError, match="takes 609 features per frame but .* 'right_hand' layout gives 63"):
        SignCLIPFeatureExtractor(keypoint_layout="right_hand").check_model_config(tiny_model().config)


def test_mistyped_relative_model_folder_fails_at_once_not_after_hub_retries(tmp_path, monkeypatch):
    """`my_model` looks like a repo id: one Hub lookup without retries decides, and the message names the folder."""
    from signclip_hf.loading import load_dataset, load_model

    monkeypatch.chdir(tmp_path)
    for load, name, kind in ((load_model, "my_model", "model"), (load_dataset, "mydata/v1", "dataset")):
        started = time.perf_counter()
        with pytest.raises(FileNotFoundError, match=f"^{kind} directory not found: {name} "):
            load(name)
        assert time.perf_counter() - started < 2.0


def test_missing_repo_on_a_reachable_hub_is_named(hub_env, tmp_path, monkeypatch):
    from signclip_hf.loading import load_model, resolve_model

    folder = save_for_pipeline(tiny_model(seed=2), tiny_processor(), tmp_path / "model")
    repo = hub_env.new_repo_id("habits-model")
    from huggingface_hub import HfApi

    HfApi().create_repo(repo)
    HfApi().upload_folder(repo_id=repo, folder_path=str(folder))
    assert load_model(repo)[0].config.model_type == "signclip"

    def second_lookup(*args, **kwargs):
        raise AssertionError("the repo was looked up twice")

    monkeypatch.setattr(HfApi, "repo_exists", second_lookup)  # found once: the CLI's check and the load share it
    assert resolve_model(repo) == repo
    monkeypatch.undo()
    with pytest.raises(FileNotFoundError, match=r"model directory not found: test-user/no-such-model \(nor a model repo"):
        load_model("test-user/no-such-model")
