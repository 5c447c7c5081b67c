"""FAISS search index over the bundled real gesture clips (conftest `gloss_model`): exact = the package's
matmul search, IVF / HNSW recall, text and pose queries, batching, save / load, stale-index refusal, CLI."""

import json

import numpy as np
import pytest
from transformers import AutoModel, AutoProcessor

from signclip_hf.cli import main
from signclip_hf.data.build import build_dataset
from signclip_hf.evaluation import embed_dataset, embed_texts, embeddings_of, search
from signclip_hf.sample_data import GESTURES_DIR
from signclip_hf.search import IndexConfig, SignIndex, StaleIndexError

from fixtures.tiny import tiny_model, tiny_processor

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def setup(gloss_model, tmp_path_factory):
    directory, _ = gloss_model
    data_dir = tmp_path_factory.mktemp("index") / "gestures"
    dataset, _ = build_dataset(GESTURES_DIR, output=data_dir)
    model, processor = AutoModel.from_pretrained(directory).eval(), AutoProcessor.from_pretrained(directory)
    gallery = embeddings_of(embed_dataset(model, processor, dataset))
    return directory, data_dir, dataset, model, processor, gallery


@pytest.fixture(scope="module")
def exact(setup):
    directory, _, dataset, model, processor, _ = setup
    return SignIndex.build(model, processor, dataset, IndexConfig(kind="exact"), model_name=str(directory))


def test_exact_index_equals_the_package_search(setup, exact):
    _, _, dataset, model, processor, gallery = setup
    texts = ["hello", "thank you", "i love you", "see you later"]
    result = exact.search_text(texts, k=10)
    reference = search(embed_texts(model, processor, [f"<en> <ase> {t}" for t in texts]), gallery, k=10)
    np.testing.assert_array_equal(result.indices, reference.indices)
    # a cosine model: unit vectors, scores scaled by its temperature = model.score
    np.testing.assert_allclose(result.scores, reference.scores * exact.metadata.score_scale, rtol=1e-5, atol=1e-4)
    assert exact.metadata.score_type == "cosine" and exact.metadata.score_scale > 1
    by_pose = exact.search_pose([str(GESTURES_DIR / f) for f in dataset["file"][:5]], k=3)
    np.testing.assert_array_equal(by_pose.indices, search(gallery[:5], gallery, k=3).indices)
    assert by_pose.indices[:, 0].tolist() == list(range(5))  # a clip's best match is itself
    labels = np.array(dataset["label"])
    hits = [(labels[row] == text).mean() for text, row in zip(texts, result.indices)]
    assert np.mean(hits) >= 0.7, dict(zip(texts, hits))  # text -> clips P@10 on the real clips
    assert result.matches[0][0]["label"] == labels[result.indices[0, 0]] and result.matches[0][0]["rank"] == 1


@pytest.mark.parametrize(
    "config",
    [IndexConfig(kind="ivf", nlist=8, nprobe=3), IndexConfig(kind="hnsw", hnsw_m=8, ef_search=16)],
    ids=["ivf", "hnsw"],
)
def test_approximate_indexes_recall(setup, exact, config):
    directory, _, dataset, model, processor, gallery = setup
    index = SignIndex.build(model, processor, dataset, config, model_name=str(directory))
    queries = gallery[::3]
    truth = exact.search_embeddings(queries, k=10).indices
    found = index.search_embeddings(queries, k=10)
    recall = np.mean([len(np.intersect1d(f, t)) / 10 for f, t in zip(found.indices, truth)])
    assert recall >= 0.9, recall
    assert (np.diff(found.scores, axis=1) <= 1e-6).all()  # best first
    assert index.metadata.config["kind"] == config.kind


def test_batched_queries_equal_one_at_a_time(exact):
    texts = ["hello", "i love you", "thank you"]
    full = exact.search_text(texts, k=5)
    for size in (1, 2, 3):
        part = exact.search_text(texts[:size], k=5)
        np.testing.assert_array_equal(part.indices, full.indices[:size])
        np.testing.assert_allclose(part.scores, full.scores[:size], rtol=1e-5, atol=1e-5)
    files = [str(GESTURES_DIR / "signer12/hello/015.pose"), str(GESTURES_DIR / "signer07/thank_you/016.pose")]
    both = exact.search_pose(files, k=4)
    np.testing.assert_array_equal(exact.search_pose(files[1], k=4).indices[0], both.indices[1])


def test_saved_index_loads_and_refuses_other_weights(setup, exact, tmp_path):
    directory, _, _, model, processor, _ = setup
    exact.save(tmp_path / "idx")
    loaded = SignIndex.load(tmp_path / "idx", model, processor)
    np.testing.assert_array_equal(loaded.search_text(["hello"], k=7).indices, exact.search_text(["hello"], k=7).indices)
    assert loaded.metadata.model == str(directory) and loaded.metadata.num_items == len(setup[2])
    other = tiny_model(seed=1, score_type="cosine", projection_dim=32)
    with pytest.raises(StaleIndexError, match=r"stale index: built with model .* weights fingerprint"):
        SignIndex.load(tmp_path / "idx", other, processor)
    with pytest.raises(StaleIndexError, match="feature-extractor settings"):
        SignIndex.load(tmp_path / "idx", model, tiny_processor(max_frames=64))
    with pytest.raises(FileNotFoundError, match="not a SignCLIP index"):
        SignIndex.load(tmp_path, model, processor)


def test_index_and_search_cli_round_trip(setup, tmp_path, capsys):
    directory, _, _, _, _, _ = setup
    data_dir = tmp_path / "split"
    build_dataset(GESTURES_DIR, output=data_dir, signer_split=0.5)
    out = tmp_path / "idx"
    assert (
        main(["index", str(directory), str(data_dir), "--output", str(out), "--kind", "hnsw", "--split", "test"]) == 0
    )
    assert "indexed 60 clips (hnsw" in capsys.readouterr().out
    assert (
        main(["search", str(out), "--query", "hello", "--query", "thank you", "--top-k", "3",
              "--output", str(tmp_path / "r.json")])
        == 0
    )
    table = capsys.readouterr().out
    assert "query: <en> <ase> hello" in table and "rank" in table
    results = json.loads((tmp_path / "r.json").read_text())["results"]
    assert [r["query"] for r in results] == ["<en> <ase> hello", "<en> <ase> thank you"]
    assert all(len(r["matches"]) == 3 and {"label", "score", "file"} <= set(r["matches"][0]) for r in results)
    query = GESTURES_DIR / results[0]["matches"][0]["file"]
    assert main(["search", str(out), "--pose", str(query), "--top-k", "2", "--output", str(tmp_path / "p.json")]) == 0
    assert (
        json.loads((tmp_path / "p.json").read_text())["results"][0]["matches"][0]["file"]
        == results[0]["matches"][0]["file"]
    )
    with pytest.raises(SystemExit) as error:
        main(["search", str(tmp_path), "--query", "hello"])
    assert error.value.code == 2 and "not a SignCLIP index" in capsys.readouterr().err
