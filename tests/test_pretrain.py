"""Contrastive pretraining: cross-process loss equivalence, 2-process CLI run, kill-and-resume, learning.

Multi-process runs are real `accelerate launch` CPU runs (gloo): `ACCELERATE_USE_CPU=1 accelerate launch
--multi_gpu --num_processes 2` (`--cpu` alone starts one process). Run as a script under
`accelerate launch`, this file is the equivalence worker (see `equivalence_worker`).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from signclip_hf.sample_data import GESTURES_DIR

from fixtures.launch import cpu_launch_command, cpu_launch_env

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "examples" / "configs" / "pretrain_tiny.yaml"
GLOBAL_BATCH = 8
VARIANTS = {"dot": {}, "cosine_projection": {"score_type": "cosine", "projection_dim": 16}}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """Tiny models (dropout as configured) and a dataset built from the bundled sample (train / test)."""
    from signclip_hf.data import build_dataset

    from fixtures.tiny import save_tiny

    root = tmp_path_factory.mktemp("pretrain")
    paths = {"dataset": root / "dataset"}
    build_dataset(GESTURES_DIR, output=paths["dataset"], signer_split=0.5, seed=0)
    for name, overrides in VARIANTS.items():
        paths[name] = save_tiny(root / f"tiny_{name}", seed=0, **overrides)
    return paths


def _global_batch(dataset: Path, processor):
    """The first GLOBAL_BATCH training rows (mixed texts) and a collator for them."""
    from signclip_hf.data import SignCLIPCollator, load_saved

    rows = load_saved(dataset)["train"].with_format("numpy").shuffle(seed=0).select(range(GLOBAL_BATCH))
    return [rows[i] for i in range(GLOBAL_BATCH)], SignCLIPCollator(processor)


def loss_and_grads(model_dir: Path, dataset: Path, rank: int = 0, world: int = 1, accelerator=None):
    """Loss (averaged over processes) and parameter gradients for this process's shard of the global batch."""
    from signclip_hf.modeling import SignCLIPModel, SignCLIPProcessor

    from signclip_hf.training import distributed_contrastive_loss

    model = SignCLIPModel.from_pretrained(model_dir).eval()  # eval: no dropout, both runs see the same function
    rows, collator = _global_batch(dataset, SignCLIPProcessor.from_pretrained(model_dir))
    shard = GLOBAL_BATCH // world
    batch = collator(rows[rank * shard : (rank + 1) * shard])
    wrapped = accelerator.prepare(model) if accelerator is not None else model
    outputs = wrapped(**batch)
    loss = distributed_contrastive_loss(outputs.pose_embeds, outputs.text_embeds, model.score)
    if accelerator is not None:
        accelerator.backward(loss)
        loss = accelerator.reduce(loss.detach(), "mean")
    else:
        loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


def equivalence_worker(out_dir: str, dataset: str, *model_dirs: str) -> None:
    """Under `accelerate launch`: each rank takes its shard; rank 0 saves the global loss and DDP-averaged grads."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    for model_dir in model_dirs:
        loss, grads = loss_and_grads(
            Path(model_dir), Path(dataset), accelerator.process_index, accelerator.num_processes, accelerator
        )
        if accelerator.is_main_process:
            torch.save({"loss": loss, "grads": grads}, Path(out_dir, Path(model_dir).name + ".pt"))
    accelerator.end_training()


@pytest.mark.slow
def test_two_ranks_match_one_process(workspace, tmp_path):
    """2 ranks × 4 clips (negatives gathered with autograd) == 1 process × 8 clips: loss and every gradient."""
    model_dirs = [str(workspace[name]) for name in VARIANTS]
    command = cpu_launch_command() + [__file__, "--equivalence-worker", str(tmp_path), str(workspace["dataset"]), *model_dirs]
    subprocess.run(command, check=True, env=cpu_launch_env(), timeout=300)
    for name in VARIANTS:
        distributed = torch.load(tmp_path / f"{workspace[name].name}.pt")
        loss, grads = loss_and_grads(workspace[name], workspace["dataset"])
        torch.testing.assert_close(distributed["loss"], loss, atol=1e-5, rtol=0)
        assert distributed["grads"].keys() == grads.keys()
        assert any("logit_scale" in k for k in grads) == (name != "dot")
        for key, grad in grads.items():
            torch.testing.assert_close(distributed["grads"][key], grad, atol=1e-5, rtol=1e-5, msg=f"{name}: {key}")
        assert max(float(g.abs().max()) for g in grads.values()) > 1e-3  # the gradients are not trivially zero


def test_one_process_loss_is_signclip_loss(workspace):
    """Without a process group the distributed loss is the core's `signclip_loss` of the model's scores."""
    from signclip_hf.modeling import SignCLIPModel, SignCLIPProcessor

    from signclip_hf.training import distributed_contrastive_loss

    model = SignCLIPModel.from_pretrained(workspace["dot"]).eval()
    rows, collator = _global_batch(workspace["dataset"], SignCLIPProcessor.from_pretrained(workspace["dot"]))
    with torch.no_grad():
        outputs = model(**collator(rows), return_loss=True)
        loss = distributed_contrastive_loss(outputs.pose_embeds, outputs.text_embeds, model.score)
    assert float(loss) == float(outputs.loss) and float(loss) > 0


def _config_args(workspace, output_dir: Path, *overrides: str) -> list[str]:
    args = ["pretrain", "--config", str(TINY_CONFIG), "--output", str(output_dir)]
    args += ["--set", f"model.from_checkpoint={workspace['dot']}", "--set", f"data.paths=[{workspace['dataset']}]"]
    for override in overrides:
        args += ["--set", override]
    return args


@pytest.mark.slow
def test_two_process_cli_run_writes_loadable_model(workspace, tmp_path):
    """The real CLI under a 2-process accelerate launch: logs, checkpoints, validation and an AutoModel."""
    from transformers import AutoModel, AutoProcessor

    output = tmp_path / "run"
    command = cpu_launch_command() + ["-m", "signclip_hf.cli"] + _config_args(workspace, output, "epochs=1")
    result = subprocess.run(command, env=cpu_launch_env(), timeout=300, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (output / "log.jsonl").read_text().splitlines()]
    # 60 train clips, 2 processes × 8 per batch: 3 full global batches -> 3 optimizer steps in one epoch
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(r["clips_per_s"] > 0 and r["loss"] > 0 for r in records)
    assert (output / "checkpoints" / "step_3" / "manifest.json").is_file()
    summary = re.search(r"validation after 3 steps: loss ([\d.]+), pose->text R@1 ([\d.]+), text->pose P@1 ([\d.]+)", result.stdout)
    assert summary and float(summary[1]) > 0 and all(0 <= float(summary[i]) <= 1 for i in (2, 3))
    model = AutoModel.from_pretrained(output / "final")
    processor = AutoProcessor.from_pretrained(output / "final")
    before = AutoModel.from_pretrained(workspace["dot"])
    changed = model.pose_model.frame_tokenizer.linear1.weight - before.pose_model.frame_tokenizer.linear1.weight
    assert float(changed.detach().abs().max()) > 0
    clip = str(GESTURES_DIR / "signer07" / "hello" / "000.pose")
    inputs = processor(text=["<en> <ase> hello"], poses=[clip], return_tensors="pt")
    assert model(**inputs).logits_per_pose.shape == (1, 1)


@pytest.mark.slow
def test_killed_and_resumed_run_matches_uninterrupted(workspace, tmp_path):
    """SIGKILL mid-epoch after a checkpoint, `--resume latest`: same final weights as one uninterrupted run
    (augmentation, gradient accumulation, dropout and warmup all on)."""
    # 7 batches per epoch, accumulating 2 -> 4 steps per epoch; the kill comes after step 6, in epoch 1
    overrides = ("epochs=3", "checkpoint_every=2", "gradient_accumulation_steps=2", "data.augmentation=all")
    cli = [sys.executable, "-m", "signclip_hf.cli"]
    env = cpu_launch_env()

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    quiet = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uninterrupted = subprocess.Popen(cli + _config_args(workspace, reference, *overrides), **quiet)  # runs alongside
    process = subprocess.Popen(cli + _config_args(workspace, resumed, *overrides), **quiet)
    marker = resumed / "checkpoints" / "step_6" / "manifest.json"
    deadline = time.monotonic() + 240
    while not marker.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert marker.is_file() and process.returncode == -signal.SIGKILL
    assert not (resumed / "final").exists(), "the run finished before it was killed"
    for later in ("step_8", "step_10"):  # may exist, half written or not: resume from step 6, mid-epoch
        shutil.rmtree(resumed / "checkpoints" / later, ignore_errors=True)
    subprocess.run(
        cli + _config_args(workspace, resumed, *overrides) + ["--resume", "latest"], check=True, env=env, timeout=300,
        capture_output=True,
    )  # fmt: skip

    assert uninterrupted.wait(timeout=300) == 0
    expected = load_file(reference / "final" / "model.safetensors")
    got = load_file(resumed / "final" / "model.safetensors")
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0, msg=key)
    initial = load_file(workspace["dot"] / "model.safetensors")
    assert any(not torch.equal(initial[k], expected[k]) for k in expected)


def test_loss_decreases(workspace, tmp_path):
    """A few epochs with the Python API (one process): the training loss goes down."""
    from signclip_hf.training import PretrainConfig, pretrain

    config = PretrainConfig.from_yaml(
        TINY_CONFIG,
        [
            f"model.from_checkpoint={workspace['dot']}", f"data.paths=[{workspace['dataset']}]",
            f"output_dir={tmp_path / 'run'}", "optim.lr=3e-3", "epochs=3", "checkpoint_every=null",
            "data.augmentation=null", "eval_every=null",
        ],
    )  # fmt: skip
    final = pretrain(config)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 21  # 60 clips // 8 = 7 steps per epoch
    assert sum(losses[-5:]) / 5 < sum(losses[:3]) / 3 - 0.2
    assert (final / "model.safetensors").is_file()


def test_streaming_dataset_trains_and_validates(workspace, tmp_path):
    """`data.streaming`: the train split is read lazily (shuffle buffer, no length grouping), max_steps bounds it."""
    from signclip_hf.training import PretrainConfig, pretrain

    config = PretrainConfig.from_yaml(
        TINY_CONFIG,
        [
            f"model.from_checkpoint={workspace['dot']}", f"data.paths=[{workspace['dataset']}]",
            f"output_dir={tmp_path / 'run'}", "data.streaming=true", "data.shuffle_buffer=16", "max_steps=4",
            "checkpoint_every=2", "eval_every=2", "log_every=1",
        ],
    )  # fmt: skip
    final = pretrain(config)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert 0 <= records[1]["validation_v2t_R@1"] <= 1 and records[1]["validation_loss"] > 0
    assert (tmp_path / "run" / "checkpoints" / "step_4" / "manifest.json").is_file()
    assert (final / "model.safetensors").is_file()


class _WritesMarker:
    """Unpickling this runs code: it writes `path` (what a crafted checkpoint file would do)."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.write_text, (self.path, "code ran"))


def _tiny_run(workspace, output: Path, resume: str | None = None) -> dict[str, torch.Tensor]:
    """A one-process 4-step run (dropout and augmentation on) checkpointing every 2 steps: its final weights."""
    from signclip_hf.training import PretrainConfig, pretrain

    overrides = [
        f"model.from_checkpoint={workspace['dot']}", f"data.paths=[{workspace['dataset']}]", f"output_dir={output}",
        "max_steps=4", "checkpoint_every=2", "eval_every=null", "data.validation_split=null",
    ]  # fmt: skip
    return load_file(pretrain(PretrainConfig.from_yaml(TINY_CONFIG, overrides), resume) / "model.safetensors")


@pytest.fixture(scope="module")
def checkpointed(workspace, tmp_path_factory):
    """A finished 4-step run (checkpoints step_2 and step_4) and its final weights, copied fresh per test."""
    output = tmp_path_factory.mktemp("checkpointed") / "run"
    final = _tiny_run(workspace, output)
    return output, final


@pytest.fixture
def run_copy(checkpointed, tmp_path):
    source, final = checkpointed
    shutil.copytree(source, tmp_path / "run")
    return tmp_path / "run", final


def test_checkpoint_holds_only_safe_formats_and_a_manifest(run_copy):
    from signclip_hf.training.checkpoint import checkpoint_dirs, verify_checkpoint

    output, _ = run_copy
    assert [p.name for p in checkpoint_dirs(output)] == ["step_2", "step_4"]
    step = output / "checkpoints" / "step_2"
    names = sorted(p.name for p in step.iterdir())
    assert names == ["manifest.json", "model.safetensors", "optimizer.bin", "rng_state_0.json", "training_state.json"]
    manifest = json.loads((step / "manifest.json").read_text())["files"]
    assert sorted(manifest) == [n for n in names if n != "manifest.json"]
    assert all(manifest[n]["size"] == (step / n).stat().st_size for n in manifest)
    state = json.loads((step / "training_state.json").read_text())
    assert state["progress"] == {"step": 2, "epoch": 0, "batches_in_epoch": 2}
    assert state["scheduler"]["last_epoch"] == 2 and state["accelerator_step"] == 2
    verify_checkpoint(step)


def test_rng_state_round_trips_through_json():
    import random

    import numpy as np

    from signclip_hf.training.checkpoint import rng_state, set_rng_state

    random.gauss(0, 1), np.random.standard_normal()  # cached gaussians are part of the state
    saved = json.loads(json.dumps(rng_state()))
    expected = (random.random(), random.gauss(0, 1), np.random.standard_normal(3).tolist(), torch.rand(3))
    set_rng_state(saved)
    got = (random.random(), random.gauss(0, 1), np.random.standard_normal(3).tolist(), torch.rand(3))
    assert got[:3] == expected[:3] and torch.equal(got[3], expected[3])


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _scramble(path: Path) -> None:  # same size, random bytes
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, path.stat().st_size, dtype=np.uint8)))


DAMAGE = {  # how the newest checkpoint is damaged -> what the warning names
    "truncated model": (lambda step: _truncate(step / "model.safetensors"), r"model\.safetensors has \d+ bytes"),
    "truncated optimizer": (lambda step: _truncate(step / "optimizer.bin"), r"optimizer\.bin has \d+ bytes"),
    "scrambled rng state": (lambda step: _scramble(step / "rng_state_0.json"), r"rng_state_0\.json does not match"),
    "interrupted save": (lambda step: (step / "manifest.json").unlink(), r"incomplete checkpoint \(no manifest\.json"),
    "planted pickle": (
        lambda step: torch.save({"step": _WritesMarker(step.parent / "marker")}, step / "custom_checkpoint_0.pkl"),
        r"does not list, not loaded: custom_checkpoint_0\.pkl",
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_latest_checkpoint_falls_back_with_a_warning(run_copy, damage):
    from signclip_hf.training.checkpoint import CheckpointError, CheckpointWarning, resolve_resume

    output, _ = run_copy
    newest = output / "checkpoints" / "step_4"
    apply, problem = DAMAGE[damage]
    apply(newest)
    with pytest.warns(CheckpointWarning, match=f"step_4.*{problem}.*resuming from step_2"):
        assert resolve_resume("latest", output) == output / "checkpoints" / "step_2"
    with pytest.raises(CheckpointError, match=f"cannot resume from {re.escape(str(newest))}: .*{problem}"):  # by path: refused
        resolve_resume(str(newest), output)
    apply(output / "checkpoints" / "step_2")
    if damage == "interrupted save":  # no save ever finished: a fresh start, said out loud
        with pytest.warns(CheckpointWarning, match="starting from scratch"):
            assert resolve_resume("latest", output) is None
    else:  # finished saves, all damaged: refuse rather than silently start over
        with pytest.raises(CheckpointError, match=r"no usable checkpoint .*step_4.*step_2"):
            resolve_resume("latest", output)
    assert not (output / "checkpoints" / "marker").exists()


def test_resume_is_resolved_by_the_main_process(run_copy):
    """Every process gets the main process's choice (or its error) instead of hashing the checkpoint itself."""
    from accelerate import Accelerator

    from signclip_hf.training.checkpoint import CheckpointError, resolve_resume_on_main_process

    output, _ = run_copy
    accelerator = Accelerator(cpu=True)
    assert resolve_resume_on_main_process(accelerator, "latest", output) == output / "checkpoints" / "step_4"
    assert resolve_resume_on_main_process(accelerator, None, output) is None
    with pytest.raises(CheckpointError, match="cannot resume from .*missing: not a checkpoint directory"):
        resolve_resume_on_main_process(accelerator, str(output / "missing"), output)


def test_resume_past_a_damaged_checkpoint_matches_the_uninterrupted_run(run_copy, workspace):
    """A truncated step_4: `--resume latest` restarts from step_2 (step, epoch, batch position, RNG, Adam,
    scheduler) and ends with the uninterrupted run's weights."""
    from signclip_hf.training.checkpoint import CheckpointWarning

    output, expected = run_copy
    _truncate(output / "checkpoints" / "step_4" / "optimizer.bin")
    with pytest.warns(CheckpointWarning, match="optimizer.bin"):
        got = _tiny_run(workspace, output, resume="latest")
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-6, rtol=0, msg=key)
    assert sum(1 for _ in open(output / "log.jsonl")) == 4 + 2  # the first run's 4 steps, then steps 3 and 4


@pytest.mark.parametrize("planted", ["custom_checkpoint_0.pkl", "optimizer.bin", "random_states_0.pkl"])
def test_crafted_pickle_never_runs_even_with_a_forged_manifest(run_copy, workspace, planted):
    """An attacker who can write the checkpoint can also rewrite its manifest: the planted pickle still
    never runs (nothing is unpickled with `weights_only=False`); resume refuses it or ignores it."""
    from signclip_hf.training.checkpoint import CheckpointError, write_manifest

    output, expected = run_copy
    marker = output / "marker"
    step = output / "checkpoints" / "step_2"  # not the last step: the resumed run trains, so its weights tell
    torch.save({"state": _WritesMarker(marker), "param_groups": []}, step / planted)
    write_manifest(step, 2)
    if planted == "random_states_0.pkl":  # Accelerate's RNG pickle: read weights-only (refused), ours is JSON
        got = _tiny_run(workspace, output, resume=str(step))
        assert all(torch.equal(got[k], expected[k]) for k in expected)
    else:
        with pytest.raises(CheckpointError, match=re.escape(str(step))):
            _tiny_run(workspace, output, resume=str(step))
    assert not marker.exists()


def test_config_errors_name_the_file_and_key(tmp_path):
    from signclip_hf.training import PretrainConfig

    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {paths: [x]}\noptim: {lr: 1e-4, warmup: 3}\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*optim\.warmup"):
        PretrainConfig.from_yaml(bad)
    bad.write_text("data: {paths: [x]}\nmixed_precision: fp8\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*mixed_precision"):
        PretrainConfig.from_yaml(bad)
    bad.write_text("optim: {lr: 1e-4}\n")
    with pytest.raises(ValueError, match="exactly one of"):
        PretrainConfig.from_yaml(bad)
    good = tmp_path / "good.yaml"
    good.write_text("data: {paths: x}\noptim: {lr: 1e-4, betas: [0.9, 0.98]}\n")
    config = PretrainConfig.from_yaml(good, ["optim.warmup_steps=7", "data.augmentation=null"])
    assert (config.optim.lr, config.optim.betas, config.optim.warmup_steps) == (1e-4, (0.9, 0.98), 7)
    assert config.data.paths == ["x"] and config.data.augmentation is None and config.optim.max_grad_norm == 2.0



@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None, reason="tensorboard is installed")
def test_missing_tracker_is_an_error(tmp_path):
    from signclip_hf.training import PretrainConfig, pretrain

    values = {"data": {"paths": ["x"]}, "log_with": "tensorboard", "output_dir": str(tmp_path)}
    config = PretrainConfig.from_dict(values)
    with pytest.warns(UserWarning, match="no supported trackers"), pytest.raises(ImportError, match="log_with='tensorboard'"):
        pretrain(config)

if __name__ == "__main__" and sys.argv[1:2] == ["--equivalence-worker"]:
    equivalence_worker(*sys.argv[2:])
