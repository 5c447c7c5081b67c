"""build-dataset on real `.pose` files with bad files mixed in, splits, the collator and the sampler."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from pose_format import Pose
from signclip_hf.modeling import UnknownLanguageError, read_keypoints

from signclip_hf.cli import main as cli_main
from signclip_hf.data import (
    LengthGroupedBatchSampler,
    PoseRows,
    SignCLIPCollator,
    build_dataset,
    dataset_features,
    is_complete_build,
    load_saved,
    padding_waste,
    prompt_for_row,
    signer_independent_split,
    split_by_column,
)
from signclip_hf.sample_data import FORMATS_DIR, GESTURES_DIR

from fixtures.tiny import tiny_processor

COLUMNS = ["file", "label", "original_label", "signer", "sign_language", "spoken_language", "frames", "fps"]


def sample_rows(per_group: int = 2) -> list[dict[str, str]]:
    """The first `per_group` clips of every (signer, label) in the bundled sample."""
    with open(GESTURES_DIR / "metadata.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    taken: dict[tuple[str, str], int] = {}
    chosen = []
    for row in rows:
        key = (row["signer"], row["label"])
        if taken.get(key, 0) < per_group:
            taken[key] = taken.get(key, 0) + 1
            chosen.append(row)
    return chosen


def write_metadata(path, rows) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def zero_frame_pose() -> bytes:
    pose = Pose.read((GESTURES_DIR / "signer07" / "hello" / "000.pose").read_bytes())
    pose.body = type(pose.body)(fps=pose.body.fps, data=pose.body.data[:0], confidence=pose.body.confidence[:0])
    buffer = io.BytesIO()
    pose.write(buffer)
    return buffer.getvalue()


BAD_FILES = {  # file -> expected reason in the report
    "bad/corrupt.pose": "corrupt",
    "bad/empty.pose": "empty",
    "bad/zero_frames.pose": "empty",
    "bad/openpose.pose": "wrong layout",
    "bad/missing.pose": "missing",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A folder of real sample clips plus a corrupt, an empty, a zero-frame, a wrong-layout and a missing file."""
    root = tmp_path_factory.mktemp("corpus")
    good = sample_rows()
    for row in good:
        (root / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(GESTURES_DIR / row["file"], root / row["file"])
    (root / "bad").mkdir()
    real = (GESTURES_DIR / good[0]["file"]).read_bytes()
    (root / "bad" / "corrupt.pose").write_bytes(real[: len(real) // 3])  # truncated mid-body
    (root / "bad" / "empty.pose").write_bytes(b"")
    (root / "bad" / "zero_frames.pose").write_bytes(zero_frame_pose())
    shutil.copy(FORMATS_DIR / "openpose.pose", root / "bad" / "openpose.pose")
    bad = [dict(good[0], file=name, signer="signer99") for name in BAD_FILES]
    rows = good[:3] + bad + good[3:]  # bad files in the middle of the CSV
    write_metadata(root / "metadata.csv", rows)
    return root, good


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    root, good = corpus
    output = tmp_path_factory.mktemp("built") / "dataset"
    dataset, report = build_dataset(root, output=output)
    return dataset, report, output


def test_build_stores_good_clips_and_reports_bad_ones(built, corpus):
    dataset, report, output = built
    _, good = corpus
    assert report.stored == len(dataset) == len(good)
    assert {s.file: s.reason for s in report.skipped} == BAD_FILES
    problems = {s.file: s.problem for s in report.skipped}
    assert "0 bytes" in problems["bad/empty.pose"] and "zero frames" in problems["bad/zero_frames.pose"]
    assert "POSE_LANDMARKS" in problems["bad/openpose.pose"]
    assert dataset["file"] == [row["file"] for row in good]  # CSV order kept
    assert dataset.features == dataset_features()
    saved = json.loads((output / "build_report.json").read_text())
    assert saved["stored"] == len(good) and len(saved["skipped"]) == len(BAD_FILES)
    assert load_saved(output)["file"] == dataset["file"]


def test_pose_values_round_trip_exactly(built, corpus):
    dataset, _, _ = built
    root, good = corpus
    rows = dataset.with_format("numpy")
    for i, source in enumerate(good):
        points, confidence, fps = read_keypoints(root / source["file"])
        row = rows[i]
        assert row["pose"].dtype == np.float32 and row["pose"].shape == points.shape
        np.testing.assert_array_equal(row["pose"], points)
        np.testing.assert_array_equal(row["confidence"], confidence)
        assert row["fps"] == fps and row["num_frames"] == len(points)
        assert (row["text"], row["label"], row["signer"]) == (source["label"], source["label"], source["signer"])
        assert (row["sign_language"], row["spoken_language"]) == ("ase", "en")


def test_parallel_build_matches_and_merges_reports(built, corpus):
    dataset, report, _ = built
    root, _ = corpus
    parallel, parallel_report = build_dataset(root, num_proc=2)
    assert parallel["file"] == dataset["file"]
    np.testing.assert_array_equal(
        np.concatenate(parallel.with_format("numpy")["pose"]), np.concatenate(dataset.with_format("numpy")["pose"])
    )
    assert [(s.file, s.reason) for s in parallel_report.skipped] == [(s.file, s.reason) for s in report.skipped]


def test_cli_build_and_text_column(corpus, tmp_path, capsys):
    root, good = corpus
    arguments = ["build-dataset", str(root), "--output", str(tmp_path / "out"), "--text-column", "original_label"]
    assert cli_main(arguments) == 0
    printed = capsys.readouterr().out
    assert f"stored {len(good)} clips" in printed and "bad/corrupt.pose: corrupt" in printed
    dataset = load_saved(tmp_path / "out")
    assert dataset["text"] == [row["original_label"] for row in good]
    assert dataset["label"] == [row["label"] for row in good]


def test_missing_column_is_a_clear_error(corpus):
    root, _ = corpus
    with pytest.raises(ValueError, match=r"metadata\.csv: missing column\(s\) \['gloss'\]"):
        build_dataset(root, label_column="gloss")


def test_build_config_is_the_keyword_arguments(corpus, tmp_path):
    """`build_dataset(root, config=BuildConfig(...))` is the keyword form; bad settings fail before any reading."""
    from signclip_hf.data import BuildConfig

    root, good = corpus
    config = BuildConfig(signer_split=0.5, seed=1, shard_rows=3)
    by_config, report = build_dataset(root, output=tmp_path / "a", config=config)
    by_keywords, _ = build_dataset(root, output=tmp_path / "b", signer_split=0.5, seed=1, shard_rows=3)
    assert {k: v["file"] for k, v in by_config.items()} == {k: v["file"] for k, v in by_keywords.items()}
    assert sum(report.split_sizes.values()) == len(good)
    overridden, _ = build_dataset(root, config=config, signer_split=None)  # keywords override the config's fields
    assert len(overridden) == len(good) and config.signer_split == 0.5
    for bad, message in (
        ({"on_duplicate": "ignore"}, r"on_duplicate must be one of \('warn', 'skip', 'error'\), got 'ignore'"),
        ({"keypoint_layout": "hands"}, r"keypoint_layout must be one of \[.*'holistic'.*\], got 'hands'"),
        ({"signer_split": 1.5}, r"signer_split is a fraction of the clips, between 0 and 1; got 1.5"),
        ({"shard_rows": 0}, r"shard_rows and writer_batch_size must be >= 1"),
    ):
        with pytest.raises(ValueError, match=message):
            BuildConfig(**bad)
    with pytest.raises(TypeError, match="unexpected keyword argument 'metadata_column'"):
        build_dataset(root, metadata_column="file")


def test_output_folder_rules_and_signer_split(corpus, tmp_path):
    root, good = corpus
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"foreign holds files build-dataset did not write \(notes\.txt\)"):
        build_dataset(root, output=tmp_path / "foreign")
    assert (tmp_path / "foreign" / "notes.txt").read_text() == "keep me"
    splits, report = build_dataset(root, output=tmp_path / "out", signer_split=0.5, seed=1)
    assert list(splits) == ["train", "test"] and sum(report.split_sizes.values()) == len(good)
    assert is_complete_build(tmp_path / "out")
    whole, _ = build_dataset(root, output=tmp_path / "out", num_proc=2)  # a previous build is replaced
    assert len(whole) == len(good) and list(load_saved(tmp_path / "out")["file"]) == list(whole["file"])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["build_report.json", "dataset_info.json", "state.json", "data-00000-of-00002.arrow", "data-00001-of-00002.arrow"]
    )  # the train/ and test/ folders of the split build went with it
    assert not set(splits["train"]["signer"]) & set(splits["test"]["signer"])  # decided from the CSV's signers
    # files someone else put into a build folder (a finished one, or one with an unreadable report) survive
    (tmp_path / "out" / "my_notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"did not write \(my_notes\.txt\)"):
        build_dataset(root, output=tmp_path / "out")
    assert (tmp_path / "out" / "my_notes.txt").read_text() == "mine" and is_complete_build(tmp_path / "out")
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    (crashed / "build_report.json").write_text('{"status": "in progr')
    (crashed / "data-00000-of-00003.arrow").write_bytes(b"not ours to delete")
    assert not is_complete_build(crashed)
    with pytest.raises(FileExistsError, match=r"build_report\.json, data-00000-of-00003\.arrow"):
        build_dataset(root, output=crashed)
    assert (crashed / "data-00000-of-00003.arrow").read_bytes() == b"not ours to delete"


def test_a_bad_output_folder_fails_before_any_video_is_extracted(tmp_path, monkeypatch):
    from signclip_hf import video

    extracted = []
    monkeypatch.setattr(video, "extract_to_cache", lambda videos, num_proc=1: extracted.extend(videos))
    root = tmp_path / "clips"
    root.mkdir()
    shutil.copy(GESTURES_DIR / sample_rows(1)[0]["file"], root / "hello.mp4")  # a video by its name
    (root / "metadata.csv").write_text("file,label,signer\nhello.mp4,hello,a\n")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"did not write \(notes\.txt\)"):
        build_dataset(root, output=tmp_path / "foreign")
    assert extracted == []


def test_paths_outside_root_are_refused_unless_allowed(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "elsewhere"
    rows = sample_rows(1)[:3]
    for row in rows:
        (root / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(GESTURES_DIR / row["file"], root / row["file"])
    outside.mkdir()
    shutil.copy(GESTURES_DIR / rows[0]["file"], outside / "secret.pose")
    inside = dict(rows[1], file="signer07/../" + rows[1]["file"])  # climbs out and back in: fine
    for i, escaping in enumerate(["../elsewhere/secret.pose", str(outside / "secret.pose")]):
        write_metadata(root / "metadata.csv", [rows[0], inside, dict(rows[2], file=escaping)])
        with pytest.raises(ValueError, match=rf"metadata\.csv: line 4: {re.escape(repr(escaping))} is outside ROOT"):
            build_dataset(root, output=tmp_path / f"out{i}")
        assert not (tmp_path / f"out{i}").exists()  # refused before anything is written
        dataset, report = build_dataset(root, output=tmp_path / f"out{i}", allow_outside_root=True)
        assert report.stored == 3 and dataset["file"][2] == escaping


def test_duplicate_rows_and_empty_labels_are_reported(tmp_path):
    rows = sample_rows(1)[:3]
    for row in rows:
        (tmp_path / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(GESTURES_DIR / row["file"], tmp_path / row["file"])
    header = ",".join(rows[0])
    lines = [header] + [",".join(r.values()) for r in rows]
    lines.append(",".join(dict(rows[0], label="goodbye").values()))  # line 5: the file of line 2 again
    lines.append(",".join(dict(rows[1], label=" ").values()))  # line 6: blank label
    lines.append(rows[2]["file"])  # line 7: no label at all (a short row)
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")

    with pytest.warns(UserWarning) as caught:
        dataset, report = build_dataset(tmp_path, output=tmp_path / "out")
    messages = [str(w.message) for w in caught]
    assert "line 5: signer07/hello/000.pose is listed again (first on line 2)" in messages[0]
    assert "2 row(s) without a label left out: line 6: empty label and text; line 7" in messages[1]
    assert dataset["label"] == ["hello", rows[1]["label"], rows[2]["label"], "goodbye"]  # default: stored, reported
    assert report.warnings == [f"{tmp_path / 'metadata.csv'}: line 5: {rows[0]['file']} is listed again (first on line 2); stored again"]
    assert {(s.reason, s.problem.split(": ", 1)[1]) for s in report.skipped} == {
        ("no label", "line 6: empty label and text"), ("no label", "line 7: empty label and text")
    }
    assert "line 5" in json.loads((tmp_path / "out" / "build_report.json").read_text())["warnings"][0]

    with pytest.warns(UserWarning, match="only the first row kept"), pytest.warns(UserWarning, match="left out"):
        dataset, report = build_dataset(tmp_path, output=tmp_path / "out", on_duplicate="skip")
    assert len(dataset) == 3 and [s.reason for s in report.skipped].count("duplicate") == 1
    with pytest.raises(ValueError, match=r"metadata\.csv: line 5: .* listed again \(first on line 2\)"):
        build_dataset(tmp_path, output=tmp_path / "out", on_duplicate="error")
    with pytest.raises(ValueError, match=r"metadata\.csv: line 6: empty label and text; line 7: empty label and text"):
        build_dataset(tmp_path, output=tmp_path / "out", on_empty_label="error")


def test_csv_with_bom_is_read_and_a_latin1_csv_names_file_and_line(corpus, tmp_path):
    root, good = corpus
    text = (root / "metadata.csv").read_text()
    (root / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    dataset, _ = build_dataset(root, metadata="bom.csv", output=tmp_path / "bom")
    assert dataset["file"] == [row["file"] for row in good]
    lines = text.splitlines()
    lines[3] = lines[3].replace(good[2]["label"], "caf\xe9", 1)
    (root / "latin1.csv").write_bytes("\n".join(lines).encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.csv: line 4: not UTF-8 text \(byte 0xe9\)"):
        build_dataset(root, metadata="latin1.csv", output=tmp_path / "latin1")


@pytest.fixture(scope="module")
def many_clips(tmp_path_factory):
    """240 rows (the bundled sample twice, through symlinks) and their uninterrupted build in 40 shards."""
    root = tmp_path_factory.mktemp("many")
    with open(GESTURES_DIR / "metadata.csv", newline="") as handle:
        sample = list(csv.DictReader(handle))
    rows = []
    for copy in range(2):
        for row in sample:
            link = root / f"copy{copy}" / row["file"]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(GESTURES_DIR / row["file"])
            rows.append(dict(row, file=f"copy{copy}/{row['file']}"))
    write_metadata(root / "metadata.csv", rows)
    reference = tmp_path_factory.mktemp("reference") / "dataset"
    build_dataset(root, output=reference, shard_rows=6)
    return root, reference


@pytest.mark.parametrize("num_proc", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_killed_build_resumes_to_the_uninterrupted_result(many_clips, tmp_path, num_proc):
    """`kill -9` of a build (and its worker processes) after a few shards; the same command again keeps
    those shards untouched and ends with the files of an uninterrupted build, byte for byte."""
    root, reference = many_clips
    output = tmp_path / "out"
    command = [sys.executable, "-m", "signclip_hf.cli", "build-dataset", str(root), "--output", str(output)]
    command += ["--num-proc", str(num_proc), "--shard-rows", "6"]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    report_path, report, deadline = output / "build_report.json", {}, time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline and len(report.get("shards", ())) < 3:
        time.sleep(0.005)
        report = json.loads(report_path.read_text()) if report_path.is_file() else {}  # replaced atomically
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    report = json.loads(report_path.read_text())
    assert process.returncode == -signal.SIGKILL and report["status"] == "in progress"
    kept = {name: (output / name).stat() for name in report["shards"]}
    assert 3 <= len(kept) < 40

    dataset, resumed = build_dataset(root, output=output, num_proc=num_proc, shard_rows=6)
    assert resumed.resumed_shards >= len(kept) and is_complete_build(output)
    for name, before in kept.items():  # finished shards were not written again
        after = (output / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    expected = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in output.iterdir()) == expected and len(expected) == 40 + 3
    for name in expected:
        if name.endswith(".arrow") or name == "dataset_info.json":
            assert (output / name).read_bytes() == (reference / name).read_bytes(), name
    assert dataset["file"] == load_saved(reference)["file"] and resumed.stored == 240


def test_unknown_language_code_fails_before_building(tmp_path):
    rows = [dict(r, sign_language="asl") for r in sample_rows(1)]
    write_metadata(tmp_path / "metadata.csv", rows)
    with pytest.raises(UnknownLanguageError, match=r"metadata\.csv: unknown sign language tag <asl>"):
        build_dataset(tmp_path)


def test_split_column_gives_a_dataset_dict(tmp_path):
    rows = [dict(r, split="test" if r["signer"] == "signer12" else "train") for r in sample_rows(1)]
    for row in rows:
        (tmp_path / row["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(GESTURES_DIR / row["file"], tmp_path / row["file"])
    write_metadata(tmp_path / "metadata.csv", rows)
    splits, report = build_dataset(tmp_path, output=tmp_path / "out")
    assert list(splits) == ["train", "test"] and report.split_sizes == {"train": 3, "test": 3}
    assert set(splits["test"]["signer"]) == {"signer12"} and set(splits["train"]["signer"]) == {"signer07"}
    assert list(load_saved(tmp_path / "out")) == ["train", "test"]


def test_signer_independent_split_holds_out_whole_signers(built):
    dataset, _, _ = built
    # four signers from two: relabel by label so that there is something to choose from
    relabeled = dataset.map(lambda row: {"signer": row["signer"] + "-" + row["label"]}, remove_columns=["signer"])
    splits = signer_independent_split(relabeled, test_size=0.3, validation_size=0.2, seed=3)
    signers = {name: set(part["signer"]) for name, part in splits.items()}
    assert set(splits) == {"train", "validation", "test"} and all(signers.values())
    assert not (signers["train"] & signers["test"] or signers["train"] & signers["validation"]
                or signers["test"] & signers["validation"])
    assert sum(len(part) for part in splits.values()) == len(relabeled)
    assert len(splits["test"]) >= 0.3 * len(relabeled)
    again = signer_independent_split(relabeled, test_size=0.3, validation_size=0.2, seed=3)
    assert again["test"]["file"] == splits["test"]["file"]
    with pytest.raises(ValueError, match="at least 3 signers"):
        signer_independent_split(dataset, test_size=0.3, validation_size=0.2)
    assert split_by_column(dataset, "signer")["signer07"]["signer"] == ["signer07"] * 6


def test_collator_on_built_rows_equals_processor_on_files(built, corpus):
    dataset, _, _ = built
    root, good = corpus
    processor = tiny_processor()
    rows = [dataset.with_format("numpy")[i] for i in (0, 4, 7, 11)]
    batch = SignCLIPCollator(processor)(rows)
    prompts = [prompt_for_row(row) for row in rows]
    expected = processor(text=prompts, poses=[str(root / good[i]["file"]) for i in (0, 4, 7, 11)], return_tensors="pt")
    for key in ("pose_values", "pose_attention_mask", "input_ids", "attention_mask"):
        torch.testing.assert_close(batch[key], expected[key], rtol=0, atol=0)
    assert prompts[0] == "<en> <ase> hello"


@pytest.mark.parametrize("size", [1, 2, 3])
def test_collator_batch_equals_one_row_at_a_time_with_mirroring(built, size):
    """The collator's one batched features call (mirroring left-handed clips) equals collating each row alone."""
    dataset, _, _ = built
    processor = tiny_processor(mirror_left_handed=True, left_handed_rule="left_hand_busier")
    rows = [dataset.with_format("numpy")[i] for i in (0, 4, 7, 11, 2)[:size]]
    collate = SignCLIPCollator(processor)
    batch = collate(rows)
    for row_index, row in enumerate(rows):
        alone = collate([row])
        length = int(alone["pose_attention_mask"].sum())
        torch.testing.assert_close(batch["pose_values"][row_index, :length], alone["pose_values"][0], rtol=0, atol=0)
        assert int(batch["pose_attention_mask"][row_index].sum()) == length
        assert not batch["pose_values"][row_index, length:].any()


def test_length_grouped_sampler(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 200, size=1000)
    sampler = LengthGroupedBatchSampler(lengths, batch_size=16, megabatch_size=8, seed=1)
    epoch0 = [list(b) for b in sampler]
    assert sorted(np.concatenate(epoch0)) == list(range(1000)) and len(epoch0) == len(sampler) == 63
    assert [list(b) for b in sampler] == epoch0  # deterministic
    sampler.set_epoch(1)
    assert [list(b) for b in sampler] != epoch0 and sorted(np.concatenate(list(sampler))) == list(range(1000))
    random_batches = np.array_split(rng.permutation(1000), 63)
    assert padding_waste(lengths, epoch0) < 0.1 < padding_waste(lengths, random_batches)
    # sharded over 2 ranks: disjoint, same number of batches, together every batch of the unsharded epoch
    shards = [LengthGroupedBatchSampler(lengths, 16, megabatch_size=8, seed=1, num_replicas=2, rank=r) for r in (0, 1)]
    for shard in shards:
        shard.set_epoch(1)
    batches = [list(shard) for shard in shards]
    assert len(batches[0]) == len(batches[1]) == len(shards[0]) == 32
    assert [list(b) for b in sampler] == [b for pair in zip(*batches) for b in pair][:63]


def test_sampler_epochs_through_accelerate(built):
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    dataset, _, _ = built
    sampler = LengthGroupedBatchSampler.from_dataset(dataset, batch_size=4, seed=5)
    loader = Accelerator(cpu=True).prepare(
        DataLoader(PoseRows(dataset), batch_sampler=sampler, collate_fn=lambda rows: [r["file"] for r in rows])
    )
    files = np.asarray(dataset["file"])
    for epoch in range(2):
        reference = LengthGroupedBatchSampler.from_dataset(dataset, batch_size=4, seed=5)
        reference.set_epoch(epoch)
        assert [list(b) for b in loader] == [list(files[b]) for b in reference]


def test_pose_rows_equal_numpy_format(built):
    dataset, _, output = built
    splits = signer_independent_split(
        dataset.map(lambda row: {"signer": row["file"][:-5]}), test_size=0.25, seed=0
    )  # select()ed splits: rows reached through an indices mapping
    for part in (dataset, load_saved(output), splits["train"], splits["test"]):
        rows, reference = PoseRows(part), part.with_format("numpy")
        assert len(rows) == len(part)
        for i in range(len(part)):
            row, expected = rows[i], reference[i]
            assert set(row) == set(expected)
            for key, value in expected.items():
                np.testing.assert_array_equal(np.asarray(row[key]), value, err_msg=key)
        assert [r["file"] for r in rows.__getitems__([2, 0])] == [part[2]["file"], part[0]["file"]]
        batches = list(LengthGroupedBatchSampler.from_dataset(part, 2))  # lengths in the split's own row order
        assert sorted(np.concatenate(batches)) == list(range(len(part)))
    with pytest.raises(IndexError):
        rows[len(rows)]


SHARDING_SCRIPT = """
import json, sys
import numpy as np
from accelerate import Accelerator
from torch.utils.data import DataLoader
from signclip_hf.data import LengthGroupedBatchSampler

accelerator = Accelerator(cpu=True)
lengths = np.random.default_rng(0).integers(5, 60, size=50)
sampler = LengthGroupedBatchSampler(lengths, batch_size=4, megabatch_size=3, seed=3)
loader = accelerator.prepare(DataLoader(list(range(50)), batch_sampler=sampler, collate_fn=list))
epochs = [[batch for batch in loader] for _ in range(2)]
with open(f"{sys.argv[1]}/rank{accelerator.process_index}.json", "w") as handle:
    json.dump({"world": accelerator.num_processes, "epochs": epochs}, handle)
accelerator.end_training()
"""


@pytest.mark.slow
def test_sampler_shards_over_two_accelerate_processes(tmp_path):
    import subprocess

    from fixtures.launch import cpu_launch_command, cpu_launch_env

    script = tmp_path / "shard.py"
    script.write_text(SHARDING_SCRIPT)
    command = cpu_launch_command() + [str(script), str(tmp_path)]
    subprocess.run(command, check=True, env=cpu_launch_env(), timeout=300, capture_output=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    lengths = np.random.default_rng(0).integers(5, 60, size=50)
    reference = LengthGroupedBatchSampler(lengths, batch_size=4, megabatch_size=3, seed=3)
    for epoch in range(2):
        reference.set_epoch(epoch)
        expected = [list(b) for b in reference]  # 13 batches (the last of 2): rank 0 takes 0, 2, ...; rank 1 1, 3, ...
        got = [ranks[0]["epochs"][epoch], ranks[1]["epochs"][epoch]]
        assert got[0][:6] == expected[0:12:2] and got[1][:6] == expected[1:12:2]
        # the partial last batch goes to rank 0, filled up from the start (accelerate's even_batches)
        assert got[0][6][:2] == expected[12] and len(got[0]) == len(got[1]) == 7
        assert set(np.concatenate(got[0][:6] + got[1][:6])) | set(expected[12]) == set(range(50))
    assert ranks[0]["epochs"][0] != ranks[0]["epochs"][1]


def test_loader_batches_feed_the_model(built):
    from torch.utils.data import DataLoader

    from signclip_hf.data import AugmentationConfig, PoseAugmentation

    from fixtures.tiny import tiny_model

    dataset, _, _ = built
    collator = SignCLIPCollator(tiny_processor(), augmentation=PoseAugmentation(AugmentationConfig(seed=0)))
    loader = DataLoader(PoseRows(dataset), batch_sampler=LengthGroupedBatchSampler.from_dataset(dataset, 4),
                        collate_fn=collator)
    model = tiny_model()
    for batch in loader:
        assert batch["pose_values"].shape[1] == batch["pose_attention_mask"].sum(1).max()  # padded to the longest
        output = model(**batch, return_loss=True)
        assert output.logits_per_pose.shape == (len(batch["input_ids"]),) * 2 and torch.isfinite(output.loss)
