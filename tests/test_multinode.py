"""Pretraining across machines: two `accelerate launch --num_machines 2 --machine_rank {0,1}` "nodes" on this
machine (CPU, gloo, rendezvous on 127.0.0.1) give the weights of one node with the same two ranks (the same
global batch), and a run whose two nodes are both killed after a checkpoint resumes (`--resume latest` on
each node) to the weights of the uninterrupted run.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from safetensors.torch import load_file

from signclip_hf.sample_data import GESTURES_DIR

from fixtures.launch import cpu_launch_command, cpu_launch_env, free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "examples" / "configs" / "pretrain_tiny.yaml"
# 60 train clips, 2 ranks x 8 clips: 3 optimizer steps an epoch, 6 in all; checkpoints after steps 2, 4, 6
OVERRIDES = ("epochs=2", "checkpoint_every=2", "eval_every=100")


def node_command(rank: int, port: int) -> list[str]:
    """One machine of a two-machine launch, one CPU rank on it (`--num_processes` counts every machine's)."""
    return [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "2",
        "--machine_rank", str(rank), "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
        "--num_processes", "2", "--mixed_precision", "no", "--dynamo_backend", "no",
    ]  # fmt: skip


def pretrain_args(workspace: dict, output: Path, *extra: str) -> list[str]:
    args = ["-m", "signclip_hf.cli", "pretrain", "--config", str(TINY_CONFIG), "--output", str(output)]
    args += ["--set", f"model.from_checkpoint={workspace['model']}", "--set", f"data.paths=[{workspace['dataset']}]"]
    for override in OVERRIDES:
        args += ["--set", override]
    return args + list(extra)


def start_nodes(workspace: dict, output: Path, *extra: str) -> list[subprocess.Popen]:
    port = free_port()
    quiet = dict(env=cpu_launch_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    args = pretrain_args(workspace, output, *extra)
    return [subprocess.Popen(node_command(rank, port) + args, **quiet) for rank in (0, 1)]


def wait_all(processes: list[subprocess.Popen], timeout: float = 300) -> None:
    for process in processes:
        _, stderr = process.communicate(timeout=timeout)
        assert process.returncode == 0, stderr.decode()[-3000:]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict:
    from signclip_hf.data import build_dataset

    from fixtures.tiny import save_tiny

    root = tmp_path_factory.mktemp("multinode")
    build_dataset(GESTURES_DIR, output=root / "dataset", signer_split=0.5, seed=0)
    return {"root": root, "dataset": root / "dataset", "model": save_tiny(root / "tiny", seed=0)}


@pytest.fixture(scope="module")
def runs(workspace) -> dict:
    """An uninterrupted two-node run and a one-node run with the same two ranks, side by side."""
    root = workspace["root"]
    two_nodes = start_nodes(workspace, root / "two_nodes")
    one_node = subprocess.Popen(
        cpu_launch_command(2) + pretrain_args(workspace, root / "one_node"),
        env=cpu_launch_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_all(two_nodes + [one_node])
    return {"two_nodes": root / "two_nodes", "one_node": root / "one_node"}


def assert_same_weights(got: Path, expected: Path) -> None:
    a, b = load_file(got / "final" / "model.safetensors"), load_file(expected / "final" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0, msg=key)


def test_two_machines_match_one_machine_with_the_same_global_batch(runs, workspace):
    assert_same_weights(runs["two_nodes"], runs["one_node"])
    records = (runs["two_nodes"] / "log.jsonl").read_text().splitlines()
    assert len(records) == 6  # 3 global batches of 16 an epoch: the two machines shared every batch
    initial = load_file(workspace["model"] / "model.safetensors")
    final = load_file(runs["two_nodes"] / "final" / "model.safetensors")
    assert any(not torch.equal(initial[k], final[k]) for k in initial)


def test_killed_two_machine_run_resumes_to_the_same_weights(runs, workspace):
    """Both nodes SIGKILLed after the step-2 checkpoint; both relaunched with `--resume latest`."""
    output = workspace["root"] / "resumed"
    nodes = start_nodes(workspace, output)
    marker = output / "checkpoints" / "step_2" / "manifest.json"
    deadline = time.monotonic() + 240
    while not marker.is_file() and all(p.poll() is None for p in nodes) and time.monotonic() < deadline:
        time.sleep(0.02)
    for process in nodes:  # the whole node: its launcher and its rank (torchrun starts ranks in their own session)
        tree = psutil.Process(process.pid)
        for member in [*tree.children(recursive=True), tree]:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGKILL)
        process.communicate()
    assert marker.is_file() and not (output / "final").exists(), "the run finished before it was killed"
    time.sleep(1)
    for later in ("step_4", "step_6"):  # may be half written: resume from step 2, mid-epoch
        shutil.rmtree(output / "checkpoints" / later, ignore_errors=True)
    wait_all(start_nodes(workspace, output, "--resume", "latest"))
    assert_same_weights(output, runs["two_nodes"])
