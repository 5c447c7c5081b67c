"""Examples hold out what they claim to: `examples/finetune_islr.py` never tests on a signer the model saw."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest
from datasets import Dataset, IterableDataset
from transformers import AutoConfig, BertConfig

from signclip_hf.training.pretrain import record_training_signers

from fixtures.tiny import save_tiny

FINETUNE_ISLR = Path(__file__).resolve().parents[1] / "examples" / "finetune_islr.py"


def _run_example(path: Path, argv: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(path), *argv])
    runpy.run_path(str(path), run_name="__main__")


def _model_pretrained_on(directory: Path, signers: list[str] | None) -> Path:
    save_tiny(directory)
    config = AutoConfig.from_pretrained(directory)
    config.pretraining_signers = signers
    config.save_pretrained(directory)
    return directory


def test_training_signers_are_recorded_in_the_model_config():
    config = BertConfig()
    record_training_signers(config, Dataset.from_dict({"signer": ["signer12", "signer03", "signer12"]}))
    assert config.pretraining_signers == ["signer03", "signer12"]
    record_training_signers(config, Dataset.from_dict({"signer": ["signer07"]}))  # continued pretraining: union
    assert config.pretraining_signers == ["signer03", "signer07", "signer12"]
    record_training_signers(config, IterableDataset.from_generator(lambda: iter([{"signer": "x"}])))
    assert config.pretraining_signers is None  # streamed: unknown, never a partial list
    record_training_signers(config, Dataset.from_dict({"signer": ["signer07"]}))
    assert config.pretraining_signers is None  # unknown stays unknown


@pytest.mark.slow
def test_finetune_islr_tests_on_the_signer_the_model_did_not_see(tmp_path, monkeypatch, capsys):
    """The demo model is pretrained on signer12: the example must test on signer07 (it tested on signer12)."""
    model = _model_pretrained_on(tmp_path / "demo-model", ["signer12"])
    _run_example(FINETUNE_ISLR, ["--model", str(model), "--output", str(tmp_path / "islr"), "--epochs", "1"],
                 monkeypatch)  # fmt: skip
    out = capsys.readouterr().out
    assert "fine-tuning on signer12, testing on signer07 (pretrained on: signer12)" in out
    assert "held-out signer signer07 top-1: " in out
    assert AutoConfig.from_pretrained(tmp_path / "islr").id2label == {0: "hello", 1: "thank you"}


def test_finetune_islr_refuses_a_model_that_saw_both_signers(tmp_path, monkeypatch):
    model = _model_pretrained_on(tmp_path / "model", ["signer07", "signer12"])
    with pytest.raises(SystemExit, match=r"pretrained on both sample signers \['signer07', 'signer12'\]"):
        _run_example(FINETUNE_ISLR, ["--model", str(model), "--output", str(tmp_path / "islr")], monkeypatch)
    assert not (tmp_path / "islr").exists()


def test_example_configs_are_valid():
    """The shipped configs read as they are (every key and value checked by the one config front end)."""
    from signclip_hf.training import PretrainConfig, finetune_arguments

    configs = Path(__file__).resolve().parents[1] / "examples" / "configs"
    options, training = finetune_arguments("islr", configs / "finetune_islr.yaml", ["layer_lr_decay=0.5"])
    assert (training.num_train_epochs, training.lr_scheduler_type, training.warmup_steps) == (8.0, "cosine", 0.1)
    assert (options.layer_lr_decay, options.early_stopping_patience) == (0.5, 3)
    pretraining = PretrainConfig.from_yaml(configs / "pretrain_gestures.yaml", ["optim.lr=1e-4"])
    assert (pretraining.optim.lr, pretraining.optim.betas, pretraining.data.pose_root) == (1e-4, (0.9, 0.98),
                                                                                             "bundled:gestures")
