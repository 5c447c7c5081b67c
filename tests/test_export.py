"""`signclip-hf export`: ONNX graphs verified by onnxruntime against PyTorch on the bundled real clips, for a
trained tiny model (fp32 + int8 + vocabulary), a converted released-layout (fairseq) checkpoint and a
`right_hand` (FingerCLIP) layout; dynamic batch / length; refusals leave nothing behind."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModel, AutoProcessor, BertConfig, BertModel

from signclip_hf.cli import main
from signclip_hf.commands import export as export_command
from signclip_hf.export import ExportConfig, ExportVerificationError, export_model, read_manifest
from signclip_hf.export import exporter
from signclip_hf.export.vocabulary import parse_vocabulary
from signclip_hf.modeling import UnknownLanguageError
from signclip_hf.model_factory import default_text_model
from signclip_hf.sample_data import HOUSE_POSE

from fixtures.exported import exported_gloss_model
from fixtures.fairseq_checkpoint import HEAD_SIZE, make_fairseq_checkpoint
from fixtures.tiny import tiny_model, tiny_processor

pytest.importorskip("onnxscript")


@pytest.fixture(scope="module")
def exported(gloss_model, tmp_path_factory):
    return exported_gloss_model(gloss_model, tmp_path_factory)


def test_export_writes_a_verified_self_describing_folder(exported, gloss_model):
    manifest = read_manifest(exported)
    verification = manifest["verification"]
    assert len(verification["clips"]) == 123  # every bundled clip: 120 gestures + 2 signs + house
    fp32, int8 = verification["fp32"], verification["int8"]
    for what in ("pose", "text", "mixed_lengths"):
        assert fp32[what]["max_abs_diff"] <= 1e-4
        assert int8[what]["min_cosine"] >= 0.99
    assert fp32["passed"] and int8["passed"] and int8["top1_agreement"] >= 0.99  # the int8 gate
    assert fp32["mixed_lengths"]["lengths"][:2] == [256, 1]
    assert manifest["graphs"] == exporter.GRAPHS and manifest["exporter"] == exporter.EXPORTER
    assert manifest["max_frames"] == 256 and manifest["sep_position"] == 257 and manifest["input_dim"] == 609
    assert manifest["feature_extractor"]["long_clip_policy"] == "subsample"
    model = AutoModel.from_pretrained(gloss_model[0])
    assert manifest["score"] == {
        "score_type": "cosine", "logit_scale": pytest.approx(float(model.logit_scale.detach().exp())), "rule": exporter.SCORE_RULE,
    }  # fmt: skip
    for relative, record in manifest["files"].items():
        assert (exported / relative).stat().st_size == record["bytes"]
    fp32_size = sum(manifest["files"][path]["bytes"] for path in exporter.GRAPHS["fp32"].values())
    int8_size = sum(manifest["files"][path]["bytes"] for path in exporter.GRAPHS["int8"].values())
    assert int8_size < fp32_size / 2  # the tiny model's LayerNorms/biases stay fp32; bert-base: see the benchmark
    # the folder describes itself: config + processor load without the weights
    processor = AutoProcessor.from_pretrained(exported)
    assert processor.feature_extractor.max_frames == 256 and processor.tokenizer is not None
    assert json.loads((exported / "config.json").read_text())["model_type"] == "signclip"
    assert not list(exported.parent.glob(".onnx.export-*"))  # the staging folder was renamed, not left


def test_vocabulary_holds_pytorch_text_embeddings(exported, gloss_model):
    vocabulary = json.loads((exported / "vocabulary.json").read_text())
    prompts = [entry["prompt"] for entry in vocabulary["entries"]]
    assert prompts == [
        "<en> <ase> hello", "<en> <ase> thank you", "<en> <ase> i love you", "<en> <ase> see you later",
        "<en> <ase> house", "<de> <gsg> Haus",
    ]  # fmt: skip
    model, processor = AutoModel.from_pretrained(gloss_model[0]).eval(), AutoProcessor.from_pretrained(gloss_model[0])
    with torch.no_grad():
        reference = model.get_text_features(**processor(text=prompts, return_tensors="pt")).pooler_output.numpy()
    np.testing.assert_allclose(np.array(vocabulary["text_embeds"], np.float32), reference, atol=1e-6)
    assert vocabulary["logit_scale"] == read_manifest(exported)["score"]["logit_scale"]


def test_graphs_take_any_batch_and_length_as_the_model_does(exported, gloss_model):
    """Longer than the 16-frame trace example, the full 256 frames, and mixed lengths padded in one batch with
    the mask: the same as each clip alone through PyTorch; batch sizes 1, 2 and 3."""
    model, processor = AutoModel.from_pretrained(gloss_model[0]).eval(), AutoProcessor.from_pretrained(gloss_model[0])
    session = ort.InferenceSession(str(exported / "onnx/pose_model.onnx"), providers=["CPUExecutionProvider"])
    clip = processor.feature_extractor.extract(HOUSE_POSE)
    long = np.concatenate([clip] * 4)[:256]
    clips = [long[:200], long, clip[:3], clip, long[:17]]
    with torch.no_grad():
        alone = [model.get_pose_features(torch.from_numpy(c[None])).pooler_output.numpy()[0] for c in clips]
    for batch_size in (1, 2, 3):
        for start in range(0, len(clips), batch_size):
            batch = processor.feature_extractor.pad(clips[start : start + batch_size])
            out = session.run(None, dict(batch))[0]
            np.testing.assert_allclose(out, alone[start : start + batch_size], atol=1e-4)


def test_converted_released_layout_checkpoint(tmp_path):
    """A fairseq checkpoint in the released layout (both towers BERTs; tiny widths: the bert-base size is
    benchmarks/onnx_bench.py) converted, then exported and verified."""
    make_fairseq_checkpoint(tmp_path / "checkpoint.pt", projection_dim=16, seed=1, pose_vocab=28996)  # released vocab
    from signclip_hf.convert import convert_checkpoint

    convert_checkpoint(tmp_path / "checkpoint.pt", tmp_path / "model", default_text_model(), head_size=HEAD_SIZE, verify=False)
    report = export_model(tmp_path / "model", tmp_path / "onnx", ExportConfig(verify_clips=24))
    fp32 = report.manifest["verification"]["fp32"]
    assert fp32["passed"] and max(fp32[w]["max_abs_diff"] for w in ("pose", "text", "mixed_lengths")) <= 1e-4
    assert report.manifest["embed_dim"] == 16 and "verified with onnxruntime" in report.format()
    # the pose graph keeps the [CLS]/[SEP] rows of its 28996-row word embeddings, not the table
    import onnx

    pose_graph = onnx.load(str(tmp_path / "onnx/onnx/pose_model.onnx")).graph
    assert not [t.name for t in pose_graph.initializer if 28996 in t.dims]


def test_right_hand_layout_through_the_command(tmp_path, capsys):
    """FingerCLIP's `right_hand` layout (63 features), exported with `signclip-hf export`."""
    source = tmp_path / "finger"
    tiny_model(seed=3, pose_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                        intermediate_size=64, vocab_size=128, input_dim=63)).save_pretrained(source)  # fmt: skip
    tiny_processor(keypoint_layout="right_hand").save_pretrained(source)
    assert main(["export", str(source), "--output", str(tmp_path / "out"), "--verify-clips", "20"]) == 0
    assert "fp32 pose: max abs diff" in capsys.readouterr().out
    manifest = read_manifest(tmp_path / "out")
    assert manifest["input_dim"] == 63 and manifest["feature_extractor"]["keypoint_layout"] == "right_hand"
    session = ort.InferenceSession(str(tmp_path / "out/onnx/pose_model.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[-1] == 63 and manifest["verification"]["fp32"]["passed"]


def test_refusals_leave_nothing_behind(tmp_path, gloss_model, exported, capsys):
    model_dir = gloss_model[0]
    # a model that is not SignCLIP
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)).save_pretrained(
        tmp_path / "bert"
    )
    with pytest.raises(ValueError, match="not a SignCLIP model .*model_type 'bert'"):
        export_model(tmp_path / "bert", tmp_path / "out")
    with pytest.raises(ValueError, match="already an exported ONNX folder"):
        export_model(exported, tmp_path / "out")
    # an output folder that is not empty is never written into
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not empty"):
        export_model(model_dir, tmp_path / "full")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["mine.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="cannot create the output folder|not a folder"):
        export_model(model_dir, tmp_path / "file" / "out")
    # a vocabulary with an unknown tag fails before the model loads, naming the line
    (tmp_path / "bad.txt").write_text("hello\n<en> <asl> house\n")
    with pytest.raises(UnknownLanguageError, match=r"bad.txt:2: unknown sign language tag <asl>"):
        export_model(model_dir, tmp_path / "out", ExportConfig(vocabulary=str(tmp_path / "bad.txt")))
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.export-*"))
    # verification out of tolerance (an impossible one here) is an error, before anything is written
    model, processor = exporter.load_source(model_dir)
    graphs = {precision: {name: exported / path for name, path in paths.items()} for precision, paths in exporter.GRAPHS.items()}
    with pytest.raises(ExportVerificationError, match="nothing was written: fp32 embeddings differ from PyTorch by"):
        exporter.verify(model, processor, graphs, ExportConfig(fp32_tolerance=0.0, verify_clips=4), ["<en> <ase> hello"])
    # the command: one line, exit status 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(model_dir), "--output", str(tmp_path / "o"), "--vocabulary", str(tmp_path / "bad.txt")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("signclip-hf export: error:") and "<asl>" in error and "\n" not in error


def test_vocabulary_file_format(tmp_path):
    path = tmp_path / "glosses.txt"
    path.write_text("# comment\n\nhello\n<de> <gsg> Haus\n  sun  \n")
    entries = parse_vocabulary(path, "en", "bfi")
    assert [(e.gloss, e.prompt) for e in entries] == [
        ("hello", "<en> <bfi> hello"), ("Haus", "<de> <gsg> Haus"), ("sun", "<en> <bfi> sun"),
    ]  # fmt: skip
    for text, message in [
        ("hello\nhello\n", "repeats line 1"),
        ("<en> house\n", "not '<spoken> <sign> gloss'"),
        ("<xx> <ase> house\n", "unknown spoken language tag <xx>"),
        ("<en> <ase>\n", "no gloss"),
        ("# only comments\n", "no glosses"),
    ]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            parse_vocabulary(path)
    with pytest.raises(UnknownLanguageError, match="default language tags"):
        parse_vocabulary(path, "en", "xyz")


def test_command_choices_match_the_library():
    assert export_command.QUANTIZATIONS == exporter.QUANTIZATIONS
