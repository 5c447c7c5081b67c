"""The onnxruntime backend (`OnnxSignCLIPModel`, `load_model(exported folder)`): the embedding API, the
pipelines, the search index, spotting and the command line give PyTorch's rankings on the bundled real clips
(conftest `gloss_model`, exported once per session by fixtures/exported.py); int8 agrees on the zero-shot top-1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel, pipeline

from signclip_hf.cli import main
from signclip_hf.embedding import embed_poses, embed_texts, model_fingerprint, score_scale
from signclip_hf.export import OnnxSignCLIPModel
from signclip_hf.loading import load_model
from signclip_hf.modeling.pipeline_signclip import PoseFeatureExtractionPipeline, ZeroShotSignClassificationPipeline
from signclip_hf.sample_data import GESTURES_DIR

from fixtures.exported import exported_gloss_model

pytest.importorskip("onnxruntime")
GLOSSES = ["hello", "thank you", "i love you", "see you later"]


@pytest.fixture(scope="module")
def models(gloss_model, tmp_path_factory):
    """(exported folder, torch model, onnx model, processor, held-out clip paths, their glosses)."""
    folder = exported_gloss_model(gloss_model, tmp_path_factory)
    directory, held_out = gloss_model
    torch_model = AutoModel.from_pretrained(directory).eval()
    onnx_model, processor = load_model(folder)
    paths = [str(GESTURES_DIR / row["file"]) for row in held_out]
    return folder, torch_model, onnx_model, processor, paths, [row["label"] for row in held_out]


def test_load_model_serves_an_exported_folder(models, gloss_model):
    folder, _, onnx_model, processor, _, _ = models
    assert isinstance(onnx_model, OnnxSignCLIPModel) and onnx_model.precision == "fp32"
    assert onnx_model.config.model_type == "signclip" and processor.feature_extractor.max_frames == 256
    assert str(onnx_model.device) == "cpu" and onnx_model.eval() is onnx_model
    int8, _ = load_model(folder, backend="onnx", precision="int8", onnx_threads=1)
    assert int8.precision == "int8" and int8.graphs["pose"].name == "pose_model_int8.onnx"
    with pytest.raises(ValueError, match="no PyTorch weights"):
        load_model(folder, backend="torch")
    with pytest.raises(ValueError, match="not an exported ONNX folder"):
        load_model(gloss_model[0], backend="onnx")
    with pytest.raises(ValueError, match="backend must be"):
        load_model(folder, backend="tf")
    with pytest.raises(ValueError, match="max_frames=256"):
        onnx_model.get_pose_features(np.zeros((1, 257, 609), np.float32))
    assert model_fingerprint(onnx_model) != model_fingerprint(int8)  # the embedding cache tells the graphs apart


def test_embedding_api_equals_pytorch(models):
    _, torch_model, onnx_model, processor, paths, labels = models
    prompts = [f"<en> <ase> {gloss}" for gloss in GLOSSES]
    for batch_size in (1, 2, 3):
        poses = embed_poses(onnx_model, processor, paths, batch_size=batch_size)
        np.testing.assert_allclose(poses, embed_poses(torch_model, processor, paths, batch_size=batch_size), atol=1e-4)
    prompts += ["<en> <ase> see you again later", "<en> <ase> a"]  # different lengths: the padding shows
    alone = embed_texts(torch_model, processor, prompts, batch_size=1)
    for batch_size in (1, 2, 3, len(prompts)):  # the text graph's mask: padded batches equal one at a time
        np.testing.assert_allclose(embed_texts(onnx_model, processor, prompts, batch_size=batch_size), alone, atol=1e-4)
    prompts = prompts[: len(GLOSSES)]
    assert score_scale(onnx_model) == pytest.approx(score_scale(torch_model), rel=1e-6)
    # numpy in -> numpy out, torch in -> torch out; forward as SignCLIPModel's
    inputs = processor(text=prompts, poses=paths[:3], return_tensors="pt")
    with torch.no_grad():
        reference = torch_model(**inputs).logits_per_pose
    logits = onnx_model(**inputs).logits_per_pose
    assert isinstance(logits, torch.Tensor)
    torch.testing.assert_close(logits, reference, atol=1e-3, rtol=1e-4)
    as_numpy = onnx_model(**processor(text=prompts, poses=paths[:3], return_tensors="np")).logits_per_pose
    assert isinstance(as_numpy, np.ndarray)
    np.testing.assert_allclose(as_numpy, reference.numpy(), atol=1e-3)
    assert (reference.argmax(1).numpy() == as_numpy.argmax(1)).all()


def test_pipelines_rank_as_pytorch(models):
    _, torch_model, onnx_model, processor, paths, _ = models
    reference = ZeroShotSignClassificationPipeline(model=torch_model, processor=processor)(paths, candidate_labels=GLOSSES)
    for batch_size in (1, 2, 3):
        pipe = pipeline("zero-shot-sign-classification", model=onnx_model, processor=processor, batch_size=batch_size)
        results = pipe(paths, candidate_labels=GLOSSES)
        assert [[r["label"] for r in result] for result in results] == [[r["label"] for r in ref] for ref in reference]
        np.testing.assert_allclose(
            [[r["score"] for r in result] for result in results], [[r["score"] for r in ref] for ref in reference], atol=1e-4
        )
    features = PoseFeatureExtractionPipeline(model=onnx_model, feature_extractor=processor.feature_extractor)(paths[:2])
    reference = PoseFeatureExtractionPipeline(model=torch_model, feature_extractor=processor.feature_extractor)(paths[:2])
    np.testing.assert_allclose(features, reference, atol=1e-4)


def test_int8_agrees_on_zero_shot_top1(models):
    folder, torch_model, _, processor, paths, _ = models
    int8, _ = load_model(folder, precision="int8")
    results = ZeroShotSignClassificationPipeline(model=int8, processor=processor)(paths, candidate_labels=GLOSSES)
    reference = ZeroShotSignClassificationPipeline(model=torch_model, processor=processor)(paths, candidate_labels=GLOSSES)
    agreement = np.mean([result[0]["label"] == ref[0]["label"] for result, ref in zip(results, reference)])
    assert agreement >= 0.99, agreement


def test_search_index_ranks_as_pytorch(models, tmp_path):
    pytest.importorskip("faiss")
    from signclip_hf.data.build import build_dataset
    from signclip_hf.search import IndexConfig, SignIndex

    folder, torch_model, onnx_model, processor, _, _ = models
    dataset, _ = build_dataset(GESTURES_DIR, output=tmp_path / "gestures")
    onnx_index = SignIndex.build(onnx_model, processor, dataset, IndexConfig(kind="exact"), model_name=str(folder))
    torch_index = SignIndex.build(torch_model, processor, dataset, IndexConfig(kind="exact"))
    by_onnx, by_torch = onnx_index.search_text(GLOSSES, k=10), torch_index.search_text(GLOSSES, k=10)
    np.testing.assert_array_equal(by_onnx.indices, by_torch.indices)
    np.testing.assert_allclose(by_onnx.scores, by_torch.scores, atol=1e-3)
    # the saved index records the exported folder: `search` reloads it through load_model (onnxruntime)
    onnx_index.save(tmp_path / "index")
    assert main(["search", str(tmp_path / "index"), "--query", "hello", "--top-k", "3"]) == 0


def test_spot_finds_the_same_peaks(models, tmp_path):
    from signclip_hf.spotting import SpottingConfig, spot
    from signclip_hf.spotting.synthetic import make_recording

    _, torch_model, onnx_model, processor, _, _ = models
    path = tmp_path / "signer12.pose"
    make_recording(GESTURES_DIR, "signer12", path, signs=3, pause_frames=(12, 16), seed=1)
    config = SpottingConfig(windows=(16, 32), stride=4)
    by_onnx = spot(onnx_model, processor, path, GLOSSES, config, progress=False)
    by_torch = spot(torch_model, processor, path, GLOSSES, config, progress=False)
    assert [c.size for c in by_onnx.curves] == [c.size for c in by_torch.curves] == [16, 32]
    for ours, theirs in zip(by_onnx.curves, by_torch.curves):
        np.testing.assert_array_equal(ours.starts, theirs.starts)
        np.testing.assert_allclose(ours.scores, theirs.scores, atol=1e-3)
    assert by_torch.detections
    assert [(d.query, d.start_frame, d.end_frame, d.window) for d in by_onnx.detections] == [
        (d.query, d.start_frame, d.end_frame, d.window) for d in by_torch.detections
    ]


def test_the_app_serves_an_exported_folder(models, gloss_model, tmp_path):
    pytest.importorskip("gradio")
    from signclip_hf.data.build import build_dataset
    from signclip_hf.space.app import AppLimits, GalleryIndex, SignCLIPApp

    folder, torch_model, onnx_model, processor, paths, _ = models
    app = SignCLIPApp(str(folder))
    assert isinstance(app.pipe.model, OnnxSignCLIPModel) and app.zero_shot
    _, scores = app.recognize(paths[0], None, "hello, thank you, i love you", "en", "ase")
    _, reference = SignCLIPApp(str(gloss_model[0])).recognize(paths[0], None, "hello, thank you, i love you", "en", "ase")
    assert list(scores) == list(reference)
    np.testing.assert_allclose(list(scores.values()), list(reference.values()), atol=1e-4)
    build_dataset(GESTURES_DIR, output=tmp_path / "gallery")
    embeds = [
        GalleryIndex(str(tmp_path / "gallery"), model, processor, app.layout, AppLimits(batch_size=3)).pose_embeds
        for model in (onnx_model, torch_model)
    ]
    torch.testing.assert_close(embeds[0], embeds[1], atol=1e-4, rtol=1e-4)
