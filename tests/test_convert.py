"""`signclip-hf convert`: fairseq checkpoints -> transformers, checked against the MMPT towers computed by hand."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from signclip_hf.modeling import SignCLIPFeatureExtractor, SignCLIPModel, SignCLIPProcessor

from signclip_hf.cli import main as cli_main
from signclip_hf.convert import (
    RELEASED_SCORES,
    FairseqCheckpointError,
    UnsafeFairseqCheckpointError,
    convert_checkpoint,
    read_fairseq_checkpoint,
)
from signclip_hf.model_factory import default_text_model
from signclip_hf.sample_data import GESTURES_DIR, HOUSE_POSE

from fixtures.fairseq_checkpoint import (
    HEAD_SIZE,
    make_fairseq_checkpoint,
    reference_pose_embedding,
    reference_text_embedding,
)

SHORT_CLIP = GESTURES_DIR / "signer07" / "hello" / "000.pose"


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A random fp16 checkpoint with projections, converted once (with the self-check) for this module."""
    root = tmp_path_factory.mktemp("convert")
    tensors = make_fairseq_checkpoint(root / "checkpoint.pt", projection_dim=16, seed=1)
    report = convert_checkpoint(root / "checkpoint.pt", root / "model", default_text_model(), head_size=HEAD_SIZE)
    return tensors, report, root / "model"


def test_converted_embeddings_and_scores_match_the_mmpt_reference(converted):
    tensors, report, model_dir = converted
    model = SignCLIPModel.from_pretrained(model_dir).eval()
    processor = SignCLIPProcessor.from_pretrained(model_dir)
    assert report.keypoint_layout == "holistic" and model.config.projection_dim == 16
    assert model.config.pose_config.num_hidden_layers == 2 and model.config.text_config.num_hidden_layers == 1
    assert model.config.pose_config.num_attention_heads == 2

    features = [torch.from_numpy(SignCLIPFeatureExtractor().extract(p)) for p in (HOUSE_POSE, SHORT_CLIP)]
    assert features[0].shape == (73, 609) and features[1].shape[0] < 73
    expected_pose = torch.stack([reference_pose_embedding(tensors, f) for f in features])
    prompts = list(RELEASED_SCORES)
    ids = processor.tokenizer(prompts)["input_ids"]
    expected_text = torch.stack([reference_text_embedding(tensors, i) for i in ids])

    inputs = processor(text=prompts, poses=[HOUSE_POSE, SHORT_CLIP], return_tensors="pt")  # padded batch
    with torch.no_grad():
        out = model(**inputs)
    torch.testing.assert_close(out.pose_embeds, expected_pose, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.text_embeds, expected_text, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.logits_per_pose, expected_pose @ expected_text.T, atol=1e-4, rtol=0)
    assert expected_pose.abs().max() > 0.1 and (expected_pose @ expected_text.T).std() > 0.01  # not a trivial 0 == 0


def test_every_key_is_accounted_for(converted):
    tensors, report, model_dir = converted
    prefixed = {f"mmmodel.{key}" for key in tensors}
    assert set(report.mapped) | set(report.intentionally_unused) == prefixed and not report.unrecognized
    assert sorted(report.intentionally_unused) == sorted(
        f"mmmodel.{tower}{name}"
        for tower in ("video_encoder.bert.", "text_encoder.")
        for name in ("pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids")
    )
    for source, target in [
        ("video_encoder.videomlp.LayerNorm.weight", "pose_model.frame_tokenizer.layer_norm.weight"),
        ("video_encoder.bert.encoder.layer.1.attention.self.query.weight",
         "pose_model.bert.encoder.layer.1.attention.self.query.weight"),
        ("video_projection.linear.weight", "pose_projection.weight"),
        ("text_encoder.encoder.layer.0.output.dense.bias", "text_model.encoder.layer.0.output.dense.bias"),
    ]:  # fmt: skip
        assert report.mapped[f"mmmodel.{source}"] == target
    assert report.source_dtypes == ["torch.float16", "torch.int64"]
    with safe_open(model_dir / "model.safetensors", "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float32}  # fp16 -> fp32
        assert len(list(weights.keys())) == len(report.mapped)
    files = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "processor_config.json", "tokenizer.json", "model.safetensors", "modeling_signclip.py",
            "pipeline_signclip.py", "processing_signclip.py", "feature_extraction_signclip.py", "keypoints_signclip.py",
            "pose_io_signclip.py"} <= files  # fmt: skip
    config = json.loads((model_dir / "config.json").read_text())
    assert config["custom_pipelines"]["zero-shot-sign-classification"]["impl"] == (
        "pipeline_signclip.ZeroShotSignClassificationPipeline"
    )


def test_fingerclip_right_hand_variant_without_projection(tmp_path, capsys):
    tensors = make_fairseq_checkpoint(tmp_path / "finger.pt", input_dim=63, pose_layers=1, seed=2)
    code = cli_main(
        ["convert", str(tmp_path / "finger.pt"), "--output", str(tmp_path / "model"),
         "--tokenizer", default_text_model(), "--head-size", str(HEAD_SIZE)]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "right_hand layout (63 features)" in printed and "projection: none" in printed
    model = SignCLIPModel.from_pretrained(tmp_path / "model").eval()
    processor = SignCLIPProcessor.from_pretrained(tmp_path / "model")
    assert processor.feature_extractor.keypoint_layout == "right_hand" and model.config.projection_dim is None
    features = torch.from_numpy(processor.feature_extractor.extract(HOUSE_POSE))
    assert features.shape == (73, 63)
    with torch.no_grad():
        got = model.get_pose_features(features[None]).pooler_output[0]
    torch.testing.assert_close(got, reference_pose_embedding(tensors, features), atol=1e-4, rtol=0)
    # the self-check printed one score per prompt of the released scores, equal to the reloaded model's
    scored = [line for line in printed.splitlines() if line.strip().startswith("'")]
    assert len(scored) == len(RELEASED_SCORES)
    ids = processor.tokenizer("<en> <ase> house")["input_ids"]
    expected = reference_pose_embedding(tensors, features) @ reference_text_embedding(tensors, ids)
    assert f"{expected.item():9.4f}".strip() in scored[0]
    assert f"pose embedding (32-d, norm {reference_pose_embedding(tensors, features).norm():.4f})" in printed


def test_fp16_is_kept_on_request(tmp_path):
    make_fairseq_checkpoint(tmp_path / "c.pt", pose_layers=1, seed=3)
    convert_checkpoint(tmp_path / "c.pt", tmp_path / "m", default_text_model(), dtype="float16", head_size=HEAD_SIZE,
                       verify=False)  # fmt: skip
    with safe_open(tmp_path / "m" / "model.safetensors", "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float16}


class _RunsShell:
    """Unpickling this would run a shell command (the classic malicious-pickle payload)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _CallsEval:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval"])
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, payload):
    marker = tmp_path / "pwned"
    checkpoint = {
        "cfg": argparse.Namespace(arch="mmarch"),
        "model": {"mmmodel.video_encoder.videomlp.linear1.weight": torch.zeros(2, 609, dtype=torch.float16)},
        "extra_state": {"hook": _RunsShell(marker) if payload == "os.system" else _CallsEval()},
    }
    torch.save(checkpoint, tmp_path / "evil.pt")
    with pytest.raises(UnsafeFairseqCheckpointError, match="outside the allow-list") as error:
        convert_checkpoint(tmp_path / "evil.pt", tmp_path / "out", default_text_model(), verify=False)
    assert str(tmp_path / "evil.pt") in str(error.value)
    assert ("posix.system" if payload == "os.system" else "builtins.eval") in str(error.value)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_allowed_objects_load(tmp_path):
    make_fairseq_checkpoint(tmp_path / "c.pt", pose_layers=1, seed=4)
    checkpoint = read_fairseq_checkpoint(tmp_path / "c.pt")
    assert isinstance(checkpoint["cfg"], argparse.Namespace) and checkpoint["cfg"].max_epoch == 25
    assert set(checkpoint) == {"cfg", "model", "optimizer_history", "last_optimizer_state", "extra_state"}


def test_missing_weight_fails_and_leftovers_are_listed(tmp_path, capsys):
    tensors = make_fairseq_checkpoint(
        tmp_path / "extra.pt", pose_layers=1, seed=5, extra={"mmmodel.video_encoder.extra_head.weight": torch.ones(3)}
    )
    assert "video_encoder.extra_head.weight" in tensors
    code = cli_main(
        ["convert", str(tmp_path / "extra.pt"), "--output", str(tmp_path / "m"), "--tokenizer", default_text_model(),
         "--head-size", str(HEAD_SIZE), "--no-verify"]
    )  # fmt: skip
    assert code == 1
    assert "1 unrecognized tensors not converted: mmmodel.video_encoder.extra_head.weight" in capsys.readouterr().out

    checkpoint = read_fairseq_checkpoint(tmp_path / "extra.pt")
    del checkpoint["model"]["mmmodel.text_encoder.encoder.layer.0.attention.self.key.bias"]
    torch.save(checkpoint, tmp_path / "missing.pt")
    with pytest.raises(FairseqCheckpointError, match=r"missing.pt: 1 model weights have no source tensor: "
                       r"text_model.encoder.layer.0.attention.self.key.bias"):  # fmt: skip
        convert_checkpoint(tmp_path / "missing.pt", tmp_path / "m2", default_text_model(), head_size=HEAD_SIZE)


def test_unreadable_or_foreign_files_fail_clearly(tmp_path):
    (tmp_path / "garbage.pt").write_bytes(b"definitely not a checkpoint")
    with pytest.raises(FairseqCheckpointError, match="garbage.pt: not a readable torch checkpoint"):
        read_fairseq_checkpoint(tmp_path / "garbage.pt")
    with pytest.raises(FairseqCheckpointError, match="nothere.pt: no such file"):
        read_fairseq_checkpoint(tmp_path / "nothere.pt")
    make_fairseq_checkpoint(tmp_path / "odd.pt", input_dim=100, pose_layers=1, seed=6)
    with pytest.raises(FairseqCheckpointError, match="pose input has 100 features; known layouts: holistic \\(609\\)"):
        convert_checkpoint(tmp_path / "odd.pt", tmp_path / "m", default_text_model(), head_size=HEAD_SIZE)
    make_fairseq_checkpoint(tmp_path / "odd.pt", pose_layers=1, seed=6)
    with pytest.raises(FairseqCheckpointError, match="odd.pt: inferred architecture is invalid: max_frames=600 needs"):
        convert_checkpoint(
            tmp_path / "odd.pt", tmp_path / "m", default_text_model(), head_size=HEAD_SIZE, max_frames=600
        )


@pytest.mark.parametrize(
    "cfg, source",
    [
        # fairseq >= 0.10 stores a plain dict whose `model` section is the training Namespace
        ({"common": {"fp16": True}, "model": argparse.Namespace(arch="mmarch", num_attention_heads=4)},
         "cfg.model.num_attention_heads"),
        (argparse.Namespace(task="mmtask", encoder_attention_heads=4), "cfg.encoder_attention_heads"),
    ],
)  # fmt: skip
def test_head_count_is_read_from_the_checkpoint_cfg(tmp_path, capsys, cfg, source):
    """hidden 64 with 4 heads (head size 16): without the cfg's count the default head size 64 gives 1 head."""
    tensors = make_fairseq_checkpoint(tmp_path / "c.pt", hidden=64, intermediate=128, pose_layers=1, seed=8, cfg=cfg)
    assert cli_main(["convert", str(tmp_path / "c.pt"), "--output", str(tmp_path / "m"),
                     "--tokenizer", default_text_model(), "--no-verify"]) == 0  # fmt: skip
    assert f"attention heads: 4 per layer in both towers (from {source})" in capsys.readouterr().out
    model = SignCLIPModel.from_pretrained(tmp_path / "m").eval()
    processor = SignCLIPProcessor.from_pretrained(tmp_path / "m")
    assert model.config.pose_config.num_attention_heads == model.config.text_config.num_attention_heads == 4
    features = torch.from_numpy(processor.feature_extractor.extract(HOUSE_POSE))
    ids = processor.tokenizer("<en> <ase> house")["input_ids"]
    with torch.no_grad():
        out = model(**processor(text=["<en> <ase> house"], poses=[HOUSE_POSE], return_tensors="pt"))
    expected_pose = reference_pose_embedding(tensors, features, head_size=16)
    expected_text = reference_text_embedding(tensors, ids, head_size=16)
    torch.testing.assert_close(out.pose_embeds[0], expected_pose, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.text_embeds[0], expected_text, atol=1e-4, rtol=0)
    one_head = reference_pose_embedding(tensors, features, head_size=64)  # what ignoring the cfg gave
    assert (one_head - expected_pose).abs().max() > 1e-2


def test_head_size_flag_default_and_conflict(tmp_path):
    make_fairseq_checkpoint(tmp_path / "plain.pt", hidden=64, intermediate=128, pose_layers=1, seed=9)
    report = convert_checkpoint(tmp_path / "plain.pt", tmp_path / "a", default_text_model(), verify=False)
    assert (report.attention_heads.count, report.attention_heads.source) == (1, "default head size 64")
    report = convert_checkpoint(tmp_path / "plain.pt", tmp_path / "b", default_text_model(), head_size=16, verify=False)
    assert (report.attention_heads.count, report.attention_heads.source) == (4, "head size 16")

    cfg = {"model": argparse.Namespace(num_attention_heads=4)}
    make_fairseq_checkpoint(tmp_path / "stated.pt", hidden=64, intermediate=128, pose_layers=1, seed=9, cfg=cfg)
    report = convert_checkpoint(tmp_path / "stated.pt", tmp_path / "c", default_text_model(), head_size=16,
                                verify=False)  # fmt: skip
    assert report.attention_heads.count == 4  # agreeing flag: accepted
    with pytest.raises(FairseqCheckpointError, match=r"stated.pt: head size 32 means 2 heads but "
                       r"cfg.model.num_attention_heads = 4"):  # fmt: skip
        convert_checkpoint(tmp_path / "stated.pt", tmp_path / "d", default_text_model(), head_size=32, verify=False)
    assert not (tmp_path / "d").exists()
    make_fairseq_checkpoint(tmp_path / "odd.pt", hidden=64, intermediate=128, pose_layers=1, seed=9,
                            cfg={"model": {"num_attention_heads": 5}})  # fmt: skip
    with pytest.raises(FairseqCheckpointError,
                       match=r"odd.pt: video_encoder.bert. hidden size 64 is not divisible into 5 "
                       r"attention heads \(cfg.model.num_attention_heads\)"):  # fmt: skip
        convert_checkpoint(tmp_path / "odd.pt", tmp_path / "e", default_text_model(), verify=False)


def test_command_dtypes_are_the_library_s():
    """The command module spells the dtype choices out (it imports no library code at its top): the same ones."""
    from signclip_hf.commands import convert as command
    from signclip_hf.convert import DTYPES

    assert command.DTYPES == tuple(sorted(DTYPES))
