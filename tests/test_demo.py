"""The main job (`signclip-hf demo`) end to end on the bundled sample, shortened to one epoch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from transformers import AutoModel

from signclip_hf.cards import CardInfo, build_model_card
from signclip_hf.cli import main
from signclip_hf.data import build_dataset
from signclip_hf.data.collate import dataset_prompts
from signclip_hf.demo import DemoConfig
from signclip_hf.evaluation import linear_probe, zero_shot
from signclip_hf.evaluation.plots import confusion_table, plot_confusion_matrix
from signclip_hf.sample_data import GESTURES_DIR

from fixtures.tiny import tiny_model, tiny_processor

# the demo's split: train signer12 (hello, thank you, i love you), test signer07 (hello, thank you, see you later)
PROBE_CAPTION = (
    "linear-probe confusion matrix; classes not in the test split (columns only): i love you; "
    "test clips left out, no class to predict: see you later"
)


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
    assert finetuned["skipped_labels"] == ["see you later"]  # only the held-out signer signs it: no class for it
    assert 0 <= finetuned["test"]["test_top1_accuracy"] <= 1 and finetuned["test"]["test_num_examples"] == 40
    train, test = results["splits"]["train"], results["splits"]["test"]
    assert train["clips"] == test["clips"] == 60 and not set(train["signers"]) & set(test["signers"])
    assert 0 <= results["results"]["zero-shot"]["metrics"]["top1_accuracy"] <= 1
    for name in ("embeddings.png", "confusion_zero-shot.png", "confusion_linear-probe.png"):
        assert (output / "plots" / name).stat().st_size > 10_000
    assert Image.open(output / "plots" / "confusion_linear-probe.png").text["Description"] == PROBE_CAPTION
    gifs = results["gifs"]  # skeletons of a recognized and a misrecognized test clip (zero-shot)
    assert gifs and set(gifs) <= {"correct", "wrong"} and all(Image.open(p).n_frames >= 20 for p in gifs.values())
    model = AutoModel.from_pretrained(results["model"])
    assert len(model.pose_model.bert.encoder.layer) == 1
    assert model.config.pretraining_signers == train["signers"] == ["signer12"]  # what examples must not test on
    card = build_model_card(results["model"], CardInfo(model_name="demo"), output / "results.json")
    assert any(r.metric_type == "top1_accuracy" for r in card.data.eval_results)


def test_demo_prompts_and_confusion_matrices_say_what_they_leave_out(tmp_path):
    """The demo's split of the bundled sample: train signer12 (hello, thank you, i love you), test signer07
    (hello, thank you, see you later). The linear probe has no class for "see you later" and no test clip of
    "i love you": rows are the tested classes only, and the caption names both."""
    config = DemoConfig()
    dataset, _ = build_dataset(GESTURES_DIR, signer_split=config.test_signers, seed=config.seed)
    assert set(dataset["train"]["signer"]) == {"signer12"} and set(dataset["test"]["signer"]) == {"signer07"}
    assert sorted(set(dataset_prompts(dataset["test"], "text"))) == [
        "<en> <ase> hello", "<en> <ase> see you later", "<en> <ase> thank you"
    ]  # fmt: skip
    assert sorted(set(dataset_prompts(dataset["train"], "text"))) == [
        "<en> <ase> hello", "<en> <ase> i love you", "<en> <ase> thank you"
    ]  # fmt: skip

    model, processor = tiny_model(), tiny_processor()
    probe = linear_probe(model, processor, dataset["train"], dataset["test"])
    assert probe.class_names == ["hello", "i love you", "thank you"] and probe.skipped_labels == ["see you later"]
    table = confusion_table(probe.references, probe.predictions, probe.class_names, probe.skipped_labels)
    assert table.true_classes == ["hello", "thank you"]  # no row for "i love you": signer07 never signs it
    assert table.predicted_classes == ["hello", "i love you", "thank you"]
    assert table.counts.shape == (2, 3) and table.counts.sum(axis=1).tolist() == [20, 20]
    expected = np.zeros((3, 3), dtype=np.int64)
    np.add.at(expected, (probe.references, probe.predictions), 1)
    np.testing.assert_array_equal(table.counts, expected[[0, 2]])
    png = plot_confusion_matrix(probe.references, probe.predictions, probe.class_names, tmp_path / "probe.png",
                                title="linear-probe confusion matrix", left_out=probe.skipped_labels)  # fmt: skip
    assert Image.open(png).text["Description"] == PROBE_CAPTION

    zero = zero_shot(model, processor, dataset["test"])
    assert zero.class_names == ["hello", "see you later", "thank you"] and not zero.skipped_labels
    shown = confusion_table(zero.references, zero.predictions, zero.class_names)
    assert shown.true_classes == shown.predicted_classes == zero.class_names and not shown.caption
    png = plot_confusion_matrix(zero.references, zero.predictions, zero.class_names, tmp_path / "zero.png")
    assert Image.open(png).text["Description"] == "confusion matrix"


def test_demo_command_defaults_are_the_demo_config_s():
    """The command module spells the defaults out (it imports no library code at its top): `DemoConfig`'s."""
    from dataclasses import asdict

    from signclip_hf.cli import command_parser
    from signclip_hf.commands import demo as command

    assert command.DEFAULTS == asdict(DemoConfig())
    parsed = vars(command_parser("demo")[0].parse_args(["--shots", "1,3,5"]))
    assert {name: parsed[name] for name in command.DEFAULTS} == {**asdict(DemoConfig()), "shots": (1, 3, 5)}
