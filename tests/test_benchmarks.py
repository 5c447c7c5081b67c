"""Benchmarks that must not rot: their smoke modes run here (figures are printed, never asserted on time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(script: str, *arguments: str) -> list[dict]:
    """Run a benchmark script; returns the JSON lines it printed."""
    done = subprocess.run(
        [sys.executable, script, *arguments], cwd=BENCHMARKS, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_gpu_bench_runs_on_cpu_quick():
    training, inference = run_benchmark("gpu_bench.py", "--device", "cpu", "--quick")
    schemes = [row["scheme"] for row in training["rows"]]
    assert schemes[0].startswith("ours") and schemes[1].startswith("original")
    for row in training["rows"]:
        assert row["clips/s"] > 0 and 0 < row["MFU"] and row["TFLOP/step"] > 0
    # the original scheme pads to 256 frames: more FLOPs per step than length-grouped padding
    assert training["rows"][1]["TFLOP/step"] > training["rows"][0]["TFLOP/step"]
    assert [row["pose clips/s"] > 0 for row in inference["rows"]] == [True, True]


@pytest.mark.slow
def test_train_step_bench_runs_tiny():
    training, checkpointing = run_benchmark(
        "train_step_bench.py", "--size", "tiny", "--batch-size", "4", "--steps", "2", "--dtypes", "fp32"
    )
    ours, original = training["rows"]
    assert ours["scheme"].startswith("ours") and original["scheme"].startswith("original")
    assert ours["clips/s"] > 0 and original["clips/s"] > 0
    assert ours["TFLOP/step"] < original["TFLOP/step"]  # length-grouped padding does less work than pad-to-256
    assert training["loss_abs_diff_ours_vs_original_fp32"] < 1e-4  # same loss on the same batch
    assert [row["gradient checkpointing"] for row in checkpointing["rows"]] == [False, True]


@pytest.mark.slow
def test_index_bench_runs_small():
    table, verdicts = run_benchmark("index_bench.py", "--sizes", "2000", "--queries", "50", "--dims", "64", "--repeats", "1")
    methods = [row["method"] for row in table["rows"]]
    assert methods[:2] == ["matmul-bound (no top-k)", "package chunked matmul"]
    exact = next(row for row in table["rows"] if row["method"] == "FAISS exact (FlatIP), BLAS")
    assert exact["recall@10"] == 1.0
    assert all(0 <= row["recall@10"] <= 1 for row in table["rows"] if "recall@10" in row)
    assert {row["data"] for row in verdicts["rows"]} == {"random", "clustered"}


@pytest.mark.slow
def test_video_bench_runs_one_loop():
    pytest.importorskip("mediapipe")
    (single,) = run_benchmark("video_bench.py", "--loops", "1", "--skip", "folder", "rss")
    ours = single["rows"][-1]
    assert ours["byte_identical_to_cli"] is True
    assert all(row["frames_per_s"] > 0 for row in single["rows"])


@pytest.fixture(scope="module")
def unseen_signers():
    """benchmarks/unseen_signers.py as a module (its helpers are pure functions of datasets and counts)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import unseen_signers
    finally:
        sys.path.remove(str(BENCHMARKS))
    return unseen_signers


def test_unseen_signers_protocol_runs_the_package_defaults(unseen_signers):
    from signclip_hf.model_factory import ModelSpec
    from signclip_hf.training import DataConfig
    from signclip_hf.training.finetune import FinetuneArguments, training_arguments

    recipe, args, spec = unseen_signers.RECIPES["defaults"], training_arguments(), ModelSpec()
    assert recipe.pretrain_augmentation == DataConfig().augmentation == "all"
    assert (recipe.mirror_left_handed, recipe.left_handed_rule) == (spec.mirror_left_handed, spec.left_handed_rule)
    assert recipe.label_smoothing == args.label_smoothing_factor == 0.1
    assert recipe.layer_lr_decay == FinetuneArguments().layer_lr_decay == 0.8
    assert recipe.wise_ft_alpha == FinetuneArguments().wise_ft_alpha
    assert recipe.finetune_lr == args.learning_rate


def test_unseen_signers_folds_swaps_and_table(unseen_signers):
    from datasets import Dataset

    signers = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 1)
    folds = unseen_signers.signer_folds(signers, 2)
    assert sorted(s for fold in folds for s in fold) == ["a", "b", "c", "d"] and folds == [["a", "d"], ["b", "c"]]  # 6 clips each
    swapped_signer = next(iter(unseen_signers.LABEL_SWAPS))
    first, second = unseen_signers.LABEL_SWAPS[swapped_signer]
    rows = Dataset.from_dict({"signer": [swapped_signer, swapped_signer, swapped_signer, "other"],
                              "label": [first, second, "hello", first],
                              "text": [f"<en> <ase> {first}", f"<en> <ase> {second}", "<en> <ase> hello", first]})
    fixed = unseen_signers.corrected_labels(rows)
    assert fixed["label"] == [second, first, "hello", first]
    assert fixed["text"] == [f"<en> <ase> {second}", f"<en> <ase> {first}", "<en> <ase> hello", first]
    runs = {0: {"1-NN raw features": {"s1": [1, 2], "s2": [3, 4]}, "fine-tuned": {"s1": [2, 2], "s2": [1, 4]}},
            1: {"1-NN raw features": {"s1": [1, 2], "s2": [3, 4]}, "fine-tuned": {"s1": [2, 2], "s2": [3, 4]}}}
    nearest, tuned = unseen_signers.summarize(runs)
    assert nearest["top1"] == pytest.approx(4 / 6) and nearest["std"] == 0
    assert tuned["top1"] == pytest.approx((3 / 6 + 5 / 6) / 2) and tuned["std"] == pytest.approx(1 / 6)
    assert (tuned["worst_signer"], tuned["worst_top1"]) == ("s2", pytest.approx(0.5))
    assert tuned["signers_below_0.6"] == 1 and tuned["vs_1nn"] == pytest.approx(2 / 3 - 4 / 6)
