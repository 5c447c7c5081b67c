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
