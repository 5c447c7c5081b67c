"""Benchmarks that must not rot: their smoke modes run here (figures are printed, never asserted on time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
