"""Over loopback HTTP: convert -> push -> load where signclip_hf is not importable -> pipeline -> handler."""

from __future__ import annotations

import json

import pytest
import torch
from huggingface_hub import HfApi, ModelCard
from signclip_hf.modeling import (
    SignCLIPFeatureExtractor,
    SignCLIPForVideoClassification,
    SignCLIPProcessor,
    format_prompt,
)
from transformers import pipeline

from signclip_hf.cards import CardInfo
from signclip_hf.cli import main as cli_main
from signclip_hf.convert import convert_checkpoint
from signclip_hf.hub import push_model, stage_repository
from signclip_hf.model_factory import default_text_model
from signclip_hf.sample_data import HOUSE_POSE

from fixtures.fairseq_checkpoint import (
    HEAD_SIZE,
    make_fairseq_checkpoint,
    reference_pose_embedding,
    reference_text_embedding,
)
from fixtures.isolation import run_without_signclip_hf
from fixtures.tiny import save_tiny, tiny_config, tiny_processor

LABELS = ["house", "sun", "police"]
EVAL_JSON = {
    "dataset": {"name": "SignCLIP gestures sample", "type": "signclip-gestures", "split": "test"},
    "results": {"zero-shot ISLR": {"accuracy": 0.75, "top5_accuracy": 1.0}},
}
USER_SIDE = """
import base64, importlib.util, json, os, torch
from huggingface_hub import snapshot_download
from transformers import AutoModel, AutoProcessor, pipeline

repo_id, pose, labels = {repo_id!r}, {pose!r}, {labels!r}
model = AutoModel.from_pretrained(repo_id, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(repo_id, trust_remote_code=True)
prompts = [f"<en> <ase> {{label}}" for label in labels]
with torch.no_grad():
    model_scores = model(**processor(text=prompts, poses=[pose], return_tensors="pt")).logits_per_pose[0].tolist()
ranked = pipeline(model=repo_id, trust_remote_code=True)(pose, candidate_labels=labels)
local = snapshot_download(repo_id)
spec = importlib.util.spec_from_file_location("handler", os.path.join(local, "handler.py"))
handler_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(handler_module)
handler = handler_module.EndpointHandler(local)
payload = {{"inputs": base64.b64encode(open(pose, "rb").read()).decode(), "parameters": {{"candidate_labels": labels}}}}
print(json.dumps({{
    "model_module": type(model).__module__,
    "model_scores": model_scores,
    "pipeline": {{r["label"]: r["logit"] for r in ranked}},
    "handler": {{r["label"]: r["logit"] for r in handler(payload)}},
    "signclip_hf_loaded": any(name.startswith("signclip_hf") for name in sys.modules),
}}))
"""


def test_convert_push_and_use_without_signclip_hf(hub_env, tmp_path):
    tensors = make_fairseq_checkpoint(tmp_path / "checkpoint.pt", projection_dim=16, seed=7)
    convert_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "model", default_text_model(), head_size=HEAD_SIZE,
                       verify=False)  # fmt: skip
    # the MMPT towers by hand on the raw checkpoint tensors: the scores every user-side path must give
    tokenizer = SignCLIPProcessor.from_pretrained(tmp_path / "model").tokenizer
    pose_embedding = reference_pose_embedding(tensors, torch.from_numpy(SignCLIPFeatureExtractor().extract(HOUSE_POSE)))
    text_ids = [tokenizer(format_prompt(label))["input_ids"] for label in LABELS]
    expected = torch.stack([pose_embedding @ reference_text_embedding(tensors, ids) for ids in text_ids])

    repo_id = hub_env.new_repo_id("signclip-converted")
    card = CardInfo(model_name="signclip-converted", repo_id=repo_id, base_model="google-bert/bert-base-cased")
    first = push_model(tmp_path / "model", repo_id, card=card, eval_json=EVAL_JSON)
    api = HfApi()
    files = set(api.list_repo_files(repo_id))
    assert {
        "README.md", "handler.py", "requirements.txt", "config.json", "model.safetensors", "processor_config.json",
        "tokenizer.json", "tokenizer_config.json", "configuration_signclip.py", "modeling_signclip.py",
        "feature_extraction_signclip.py", "processing_signclip.py", "pipeline_signclip.py", "keypoints_signclip.py",
        "pose_io_signclip.py", "video_signclip.py",
    } <= files  # fmt: skip
    commits = len(api.list_repo_commits(repo_id))
    again = push_model(tmp_path / "model", repo_id, card=card, eval_json=EVAL_JSON)  # nothing changed
    assert again.oid == first.oid and len(api.list_repo_commits(repo_id)) == commits

    card_on_hub = ModelCard.load(repo_id)
    assert card_on_hub.data.library_name == "transformers" and card_on_hub.data.pipeline_tag == "feature-extraction"
    assert [(r.metric_type, r.metric_value) for r in card_on_hub.data.eval_results] == [
        ("accuracy", 0.75), ("top5_accuracy", 1.0)
    ]  # fmt: skip

    result = run_without_signclip_hf(USER_SIDE.format(repo_id=repo_id, pose=str(HOUSE_POSE), labels=LABELS), tmp_path)
    assert result["model_module"].startswith("transformers_modules.") and not result["signclip_hf_loaded"]
    torch.testing.assert_close(torch.tensor(result["model_scores"]), expected, atol=1e-4, rtol=0)
    for path in ("pipeline", "handler"):
        torch.testing.assert_close(torch.tensor([result[path][label] for label in LABELS]), expected, atol=1e-4, rtol=0)


def test_push_private_branch_from_plain_save_via_cli(hub_env, tmp_path, capsys):
    model_dir = save_tiny(tmp_path / "plain")  # saved without pipeline code: push adds it
    assert "custom_pipelines" not in json.loads((model_dir / "config.json").read_text())
    repo_id = hub_env.new_repo_id("signclip-private")
    argv = ["push", str(model_dir), repo_id, "--private", "--revision", "dev", "--sign-language", "gsg",
            "--training-dataset", "test-user/gestures"]  # fmt: skip
    assert cli_main(argv) == 0
    assert f"Pushed {model_dir} to {repo_id} (dev)" in capsys.readouterr().out
    api = HfApi()
    assert api.model_info(repo_id).private
    dev_files = set(api.list_repo_files(repo_id, revision="dev"))
    assert {"pipeline_signclip.py", "handler.py", "README.md", "processor_config.json"} <= dev_files
    assert "README.md" not in set(api.list_repo_files(repo_id))  # main untouched
    config = json.loads(open(api.hf_hub_download(repo_id, "config.json", revision="dev")).read())
    assert list(config["custom_pipelines"]) == ["zero-shot-sign-classification"]
    card = ModelCard.load(api.hf_hub_download(repo_id, "README.md", revision="dev"))
    assert card.data.datasets == ["test-user/gestures"] and "gsg" in card.data.tags
    commits = len(api.list_repo_commits(repo_id, revision="dev"))
    assert cli_main(argv) == 0 and len(api.list_repo_commits(repo_id, revision="dev")) == commits


def test_staging_a_fine_tuned_classifier_adds_its_pipeline(tmp_path):
    torch.manual_seed(0)
    model = SignCLIPForVideoClassification(tiny_config(id2label={0: "hello", 1: "house"})).eval()
    model.save_pretrained(tmp_path / "islr")  # as the finetune command saves it: no pipeline code
    tiny_processor().save_pretrained(tmp_path / "islr")
    (tmp_path / "islr" / "finetune_results.json").write_text("{}")
    staged = stage_repository(tmp_path / "islr", tmp_path / "staged", CardInfo(model_name="islr"))
    files = {p.name for p in staged.iterdir()}
    assert {"pipeline_signclip.py", "handler.py", "requirements.txt", "README.md", "finetune_results.json"} <= files
    config = json.loads((staged / "config.json").read_text())
    assert list(config["custom_pipelines"]) == ["sign-classification"]
    assert ModelCard.load(staged / "README.md").data.pipeline_tag is None
    result = pipeline(model=str(staged), trust_remote_code=True)(str(HOUSE_POSE))
    with torch.no_grad():
        probs = model(**tiny_processor().feature_extractor([HOUSE_POSE], return_tensors="pt")).logits[0].softmax(-1)
    expected = {"hello": probs[0].item(), "house": probs[1].item()}
    assert {r["label"]: r["score"] for r in result} == pytest.approx(expected)
    with pytest.raises(FileNotFoundError, match="missing \\['processor_config.json'\\]"):
        model.save_pretrained(tmp_path / "bare")
        stage_repository(tmp_path / "bare", tmp_path / "staged2", CardInfo(model_name="x"))


def test_finetune_starts_from_a_hub_model_id(hub_env, tmp_path):
    """`signclip-hf finetune REPO_ID DATASET`: the model is read from the Hub (`loading.load_model`), like a folder."""
    from signclip_hf.data import build_dataset
    from signclip_hf.loading import load_model
    from signclip_hf.sample_data import GESTURES_DIR

    repo_id = hub_env.new_repo_id("signclip-finetune-source")
    push_model(save_tiny(tmp_path / "tiny"), repo_id)
    build_dataset(GESTURES_DIR, output=tmp_path / "data", signer_split=0.5)
    output = tmp_path / "islr"
    argv = ["finetune", repo_id, str(tmp_path / "data"), "--output", str(output), "--max-steps", "1",
            "--batch-size", "8", "--no-augment"]  # fmt: skip
    assert cli_main(argv) == 0
    report = json.loads((output / "finetune_results.json").read_text())
    assert report["class_names"] == ["hello", "i love you", "thank you"]  # the training signer's glosses
    assert report["training_arguments"]["max_steps"] == 1 and report["finetune_arguments"]["augment"] is False
    classifier, _ = load_model(output, head="classifier")
    assert list(classifier.config.label2id) == report["class_names"]
