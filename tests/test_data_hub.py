"""push -> load of a built pose dataset (map-style and streaming) over HTTP against the loopback Hub."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from huggingface_hub import DatasetCard, HfApi

from signclip_hf.data import (
    DatasetCardConfig,
    SignCLIPCollator,
    build_dataset,
    dataset_features,
    load_pose_dataset,
    push_pose_dataset,
    render_dataset_card,
)
from signclip_hf.sample_data import GESTURES_DIR

from fixtures.tiny import tiny_processor


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    output = tmp_path_factory.mktemp("hub") / "gestures"
    splits, report = build_dataset(GESTURES_DIR, output=output, signer_split=0.5, seed=0)
    return splits, report, output


def assert_rows_equal(loaded_rows, reference) -> None:
    reference = reference.with_format("numpy")
    count = 0
    for i, row in enumerate(loaded_rows):
        expected = reference[i]
        assert set(row) == set(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(np.asarray(row[key]), value, err_msg=key)
            assert np.asarray(row[key]).dtype == value.dtype or value.dtype.kind == "U", key
        count += 1
    assert count == len(reference)


def test_card_metadata(built):
    splits, report, _ = built
    card = DatasetCard(render_dataset_card(splits, "test-user/gestures", DatasetCardConfig(license="mit"), report))
    assert card.data.license == "mit" and card.data.language == ["en"]
    assert {"sign-language", "ase"} <= set(card.data.tags) and card.data.size_categories == ["n<1K"]
    assert card.data.configs[0]["data_files"] == [
        {"split": "train", "path": "data/train-*"}, {"split": "test", "path": "data/test-*"}
    ]
    assert "| train | 60 | 1 | 3 | 30 / 30 / 30 |" in card.text and "120 clips were stored" in card.text


def test_push_then_load_and_stream_identical(built, hub_env):
    splits, report, _ = built
    repo_id = hub_env.new_repo_id("gestures")
    push_pose_dataset(splits, repo_id, DatasetCardConfig(pretty_name="Sample gestures", license="mit"), report)

    card = DatasetCard.load(repo_id, repo_type="dataset")
    assert card.data.pretty_name == "Sample gestures" and "ase" in card.data.tags
    assert card.data.dataset_info is not None  # the features that `datasets` wrote survive the card
    files = HfApi().list_repo_files(repo_id, repo_type="dataset")
    assert any(f.startswith("data/train-") and f.endswith(".parquet") for f in files)

    for split in ("train", "test"):
        loaded = load_pose_dataset(repo_id, split=split)
        assert loaded.features == dataset_features()
        assert_rows_equal((loaded[i] for i in range(len(loaded))), splits[split])

    streamed = load_pose_dataset(repo_id, split="test", streaming=True)
    assert_rows_equal(iter(streamed), splits["test"])

    # the streamed rows feed the collator exactly as the local ones
    collator = SignCLIPCollator(tiny_processor())
    streamed_batch = collator(list(itertools.islice(iter(streamed), 8)))
    local = splits["test"].with_format("numpy")
    local_batch = collator([local[i] for i in range(8)])
    for key in ("pose_values", "pose_attention_mask", "input_ids", "attention_mask"):
        torch.testing.assert_close(streamed_batch[key], local_batch[key], rtol=0, atol=0)


def test_cli_builds_and_pushes(hub_env, tmp_path, capsys):
    from signclip_hf.cli import main as cli_main

    repo_id = hub_env.new_repo_id("cli-gestures")
    arguments = ["build-dataset", str(GESTURES_DIR), "--output", str(tmp_path / "out"), "--signer-split", "0.5",
                 "--push-to-hub", repo_id, "--license", "mit"]
    assert cli_main(arguments) == 0
    assert f"pushed to {repo_id}" in capsys.readouterr().out
    assert DatasetCard.load(repo_id, repo_type="dataset").data.license == "mit"
    pushed, local = (load_pose_dataset(source, split="test") for source in (repo_id, tmp_path / "out"))
    assert [str(f) for f in pushed["file"]] == [str(f) for f in local["file"]] and len(pushed) == 60


def test_load_from_a_build_folder(built):
    splits, _, output = built
    assert_rows_equal(iter(load_pose_dataset(output, split="test", streaming=True)), splits["test"])
    loaded = load_pose_dataset(output)
    assert list(loaded) == ["train", "test"] and loaded["train"][0]["pose"].dtype == np.float32
    with pytest.raises(ValueError, match="splits \\['train', 'test'\\]; asked for 'validation'"):
        load_pose_dataset(output, split="validation")


def test_one_dataset_loader_for_folders_and_hub_ids(built, tmp_path, monkeypatch):
    """`loading.load_dataset`: a build folder as saved, a missing path at once (no Hub lookup), splits by name."""
    import time

    from signclip_hf.data import load_saved
    from signclip_hf.loading import load_dataset

    splits, _, output = built
    loaded = load_dataset(output)
    assert list(loaded) == ["train", "test"] and loaded["test"]["file"] == splits["test"]["file"]
    assert load_dataset(output, split="train")["file"] == splits["train"]["file"] == load_saved(output)["train"]["file"]
    assert [row["file"] for row in load_dataset(output, split="test", streaming=True)] == splits["test"]["file"]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "notes.txt").write_text("not a dataset")
    started = time.perf_counter()
    for missing in ("./gestures", "runs/gestures", str(tmp_path / "no" / "such" / "folder"), "a/b/c"):
        with pytest.raises(FileNotFoundError, match=f"^dataset directory not found: {missing}$"):
            load_dataset(missing)
    with pytest.raises(NotADirectoryError, match="notes.txt: not a dataset directory"):
        load_dataset("notes.txt")
    assert time.perf_counter() - started < 1
    unsplit = tmp_path / "unsplit"
    splits["test"].save_to_disk(unsplit)
    assert load_dataset(unsplit, split="train")["file"] == splits["test"]["file"]  # an unsplit set is its train split
    with pytest.raises(ValueError, match="holds a single dataset \\(no splits\\); asked for split 'test'"):
        load_dataset(unsplit, split="test")


def test_commands_take_hub_ids_for_the_model_and_the_dataset(built, hub_env, tmp_path, capsys):
    """evaluate / index / search / spot with a Hub model id and a Hub dataset id (one loader for each)."""
    import json

    from huggingface_hub import HfApi

    from signclip_hf.cli import main as cli_main
    from signclip_hf.pipeline import save_for_pipeline
    from signclip_hf.spotting.synthetic import make_recording

    from fixtures.tiny import tiny_model

    splits, report, _ = built
    dataset_repo, model_repo = hub_env.new_repo_id("hub-gestures"), hub_env.new_repo_id("hub-model")
    push_pose_dataset(splits, dataset_repo, DatasetCardConfig(license="mit"), report)
    folder = save_for_pipeline(tiny_model(seed=4), tiny_processor(), tmp_path / "model")
    HfApi().create_repo(model_repo)
    HfApi().upload_folder(repo_id=model_repo, folder_path=str(folder))

    results = tmp_path / "results.json"
    assert cli_main(["evaluate", model_repo, dataset_repo, "--task", "zero-shot", "--output", str(results)]) == 0
    zero_shot = json.loads(results.read_text())["results"]["zero-shot"]
    assert sorted(zero_shot["class_names"]) == sorted(set(splits["test"]["label"]))
    assert 0.0 <= zero_shot["metrics"]["top1_accuracy"] <= 1.0
    index = tmp_path / "index"
    assert cli_main(["index", model_repo, dataset_repo, "--output", str(index), "--split", "test"]) == 0
    assert cli_main(["search", str(index), "--query", "hello", "--top-k", "2", "--output", str(tmp_path / "h.json")]) == 0
    hits = json.loads((tmp_path / "h.json").read_text())
    assert hits["model"] == model_repo and len(hits["results"][0]["matches"]) == 2
    recording = tmp_path / "rec.pose"
    make_recording(GESTURES_DIR, "signer12", recording, signs=3, seed=0)
    spots = tmp_path / "spots.json"
    assert cli_main(["spot", model_repo, str(recording), "--query", "hello", "--windows", "16", "--output", str(spots)]) == 0
    assert json.loads(spots.read_text())["queries"] == ["hello"]
    capsys.readouterr()
