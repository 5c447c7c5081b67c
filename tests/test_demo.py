"""The main job (`signclip-hf demo`) end to end on the bundled sample, shortened to one epoch."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModel

from signclip_hf.cards import CardInfo, build_model_card
from signclip_hf.cli import main


@pytest.mark.slow
def test_demo_writes_results_plots_and_a_loadable_model(tmp_path, capsys):
    output = tmp_path / "demo"
    assert main(["demo", "--output", str(output), "--epochs", "1", "--pose-layers", "1", "--shots", "1",
                 "--finetune-epochs", "1"]) == 0
    report = capsys.readouterr().out
    assert "SignCLIP demo finished" in report and "zero-shot" in report
    results = json.loads((output / "results.json").read_text())
    assert set(results["results"]) == {"retrieval", "zero-shot", "few-shot", "linear-probe", "fine-tuned"}
    finetuned = results["results"]["fine-tuned"]
    assert finetuned["skipped_labels"] == ["seeyoulater"]  # only the held-out signer signs it: no class for it
    assert 0 <= finetuned["test"]["test_top1_accuracy"] <= 1 and finetuned["test"]["test_num_examples"] == 40
    train, test = results["splits"]["train"], results["splits"]["test"]
    assert train["clips"] == test["clips"] == 60 and not set(train["signers"]) & set(test["signers"])
    assert 0 <= results["results"]["zero-shot"]["metrics"]["top1_accuracy"] <= 1
    for name in ("embeddings.png", "confusion_zero-shot.png", "confusion_linear-probe.png"):
        assert (output / "plots" / name).stat().st_size > 10_000
    model = AutoModel.from_pretrained(results["model"])
    assert len(model.pose_model.bert.encoder.layer) == 1
    card = build_model_card(results["model"], CardInfo(model_name="demo"), output / "results.json")
    assert any(r.metric_type == "top1_accuracy" for r in card.data.eval_results)
