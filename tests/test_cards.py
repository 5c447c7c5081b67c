"""Model cards: metadata, model-index from an evaluation JSON, and the rendered body."""

from __future__ import annotations

import json

import pytest
import torch
from huggingface_hub import EvalResult, ModelCard
from signclip_hf.modeling import SignCLIPForVideoClassification

from signclip_hf.cards import CITATION, CardInfo, build_model_card, eval_results_from_json

from fixtures.tiny import save_tiny, tiny_config

EVAL_JSON = {
    "dataset": {"name": "SignCLIP gestures sample", "type": "signclip-gestures", "split": "test"},
    "results": {
        "zero-shot ISLR": {"accuracy": 0.625, "top5_accuracy": 1.0, "num_classes": 4, "note": "prompts <en> <ase>"},
        "pose-to-text retrieval": {"task_type": "feature-extraction", "metrics": {"recall@1": 0.4, "median_rank": 2}},
    },
}


def test_eval_results_from_hand_written_json(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(EVAL_JSON))
    results = eval_results_from_json(tmp_path / "results.json")
    assert [(r.task_name, r.task_type, r.metric_type, r.metric_value) for r in results] == [
        ("zero-shot ISLR", "video-classification", "accuracy", 0.625),
        ("zero-shot ISLR", "video-classification", "top5_accuracy", 1.0),
        ("zero-shot ISLR", "video-classification", "num_classes", 4.0),
        ("pose-to-text retrieval", "feature-extraction", "recall@1", 0.4),
        ("pose-to-text retrieval", "feature-extraction", "median_rank", 2.0),
    ]  # the string "note" is not a metric
    assert all(isinstance(r, EvalResult) for r in results)
    assert {(r.dataset_name, r.dataset_type, r.dataset_split) for r in results} == {
        ("SignCLIP gestures sample", "signclip-gestures", "test")
    }
    for bad, message in [
        ({"results": {"a": {"x": 1}}}, "needs a 'dataset'"),
        ({"dataset": {"name": "d"}, "results": {}}, "needs a non-empty 'results' object"),
        ({"dataset": {"name": "d"}, "results": {"a": 0.5}}, "results\\['a'\\] must be a metrics object"),
    ]:
        with pytest.raises(ValueError, match=message):
            eval_results_from_json(bad)


def test_eval_results_from_evaluate_cli_output():
    """The shape `signclip-hf evaluate --output` writes: dataset path, top-level split, per-task result dicts."""
    written = {
        "model": "runs/model", "dataset": "data/gestures-ds", "split": "test",
        "results": {
            "zero-shot": {"task": "zero-shot", "metrics": {"top1_accuracy": 0.5, "num_examples": 40},
                          "class_names": ["hello", "house"], "skipped_labels": []},
            "few-shot": {"task": "few-shot", "metrics": {"1-shot": {"top1_accuracy": 0.4, "top1_accuracy_std": 0.1},
                                                         "5-shot": {"top1_accuracy": 0.7}}, "shots": [1, 5]},
            "retrieval": {"task": "retrieval", "metrics": {"v2t_r@1": 0.3, "t2v_median_rank": 2.0}, "num_prompts": 3},
        },
    }  # fmt: skip
    results = eval_results_from_json(written)
    assert [(r.task_name, r.task_type, r.metric_type, r.metric_value) for r in results] == [
        ("zero-shot", "video-classification", "top1_accuracy", 0.5),
        ("zero-shot", "video-classification", "num_examples", 40.0),
        ("few-shot (1-shot)", "video-classification", "top1_accuracy", 0.4),
        ("few-shot (1-shot)", "video-classification", "top1_accuracy_std", 0.1),
        ("few-shot (5-shot)", "video-classification", "top1_accuracy", 0.7),
        ("retrieval", "feature-extraction", "v2t_r@1", 0.3),
        ("retrieval", "feature-extraction", "t2v_median_rank", 2.0),
    ]
    assert {(r.dataset_name, r.dataset_split) for r in results} == {("gestures-ds", "test")}


def test_contrastive_model_card(tmp_path):
    model_dir = save_tiny(tmp_path / "model")
    info = CardInfo(
        model_name="signclip-tiny", repo_id="test-user/signclip-tiny", license="mit",
        base_model="google-bert/bert-base-cased", datasets=["test-user/gestures"], sign_languages=["ase", "gsg"],
        description="A tiny test model.",
    )  # fmt: skip
    build_model_card(model_dir, info, EVAL_JSON).save(tmp_path / "README.md")
    card = ModelCard.load(tmp_path / "README.md")
    data = card.data
    assert data.library_name == "transformers" and data.pipeline_tag == "feature-extraction"
    assert data.license == "mit" and data.base_model == "google-bert/bert-base-cased"
    assert data.datasets == ["test-user/gestures"] and data.language == ["en", "ase", "gsg"]
    assert data.tags == ["sign-language", "pose", "contrastive", "signclip", "ase", "gsg"]
    assert data.model_name == "signclip-tiny"
    assert [(r.task_name, r.metric_type, r.metric_value) for r in data.eval_results] == [
        (r.task_name, r.metric_type, r.metric_value) for r in eval_results_from_json(EVAL_JSON)
    ]
    text = card.text
    for expected in (
        "# signclip-tiny", "A tiny test model.", "## Intended use", "## Prompt format", '"<en> <ase> house"',
        "`gsg` (German Sign Language)", "## Preprocessing", "## Limitations", "English only",
        "at most 256 frames", "Only MediaPipe Holistic poses work", 'pipeline(model="test-user/signclip-tiny"',
        "| zero-shot ISLR | SignCLIP gestures sample | test | accuracy | 0.6250 |", CITATION,
        "1-layer BERT (hidden 32)", "609 features",
    ):  # fmt: skip
        assert expected in text, expected
    assert "{{" not in text and "{%" not in text


def test_classifier_card_has_no_false_pipeline_tag(tmp_path):
    torch.manual_seed(0)
    model = SignCLIPForVideoClassification(tiny_config(id2label={0: "hello", 1: "house"}))
    model.save_pretrained(tmp_path / "islr")
    card = build_model_card(tmp_path / "islr", CardInfo(model_name="islr"))
    assert card.data.pipeline_tag is None and card.data.eval_results is None
    assert "predicts one of 2 glosses" in card.text and "## Prompt format" not in card.text
    with pytest.raises(ValueError, match="unknown sign language codes \\['asl'\\]"):
        build_model_card(tmp_path / "islr", CardInfo(model_name="islr", sign_languages=["asl"]))
