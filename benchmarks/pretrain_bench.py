"""Pretraining benchmark: clips/s, model FLOP utilization, loss over 3 epochs, fp32 vs bf16, 1 vs 2 processes.

Small config: offline MiniLM text tower (6 layers, hidden 384) + 4-layer pose tower (hidden 384), the SPEC §3
optimizer (fused Adam). Data: ../shared/data/gestures when present (1,690 clips, signer-independent
split), else the bundled 120-clip sample.

* MFU: FLOPs of one training step (forward + backward, counted with torch's FlopCounterMode on a real
  batch) ÷ its median time, ÷ the median FLOP/s of a 2048³ matmul at the same precision, measured
  alternately with the steps in the same process (so both see the same machine load).
* Loss: `pretrain()` for 3 epochs; first vs last logged training loss (mean of the first/last 3 logs).
* fp32 vs bf16, 1 vs 2 processes: short `pretrain()` runs (2 processes: `ACCELERATE_USE_CPU=1 accelerate
  launch --multi_gpu --num_processes 2` on CPU); clips/s = median of the logged global clips/s after
  warm-up, peak memory = peak RSS per process (CPU; on this model it is reached while building the model,
  training steps stay below it) or max allocated CUDA memory.

    python benchmarks/pretrain_bench.py [--batch-size 32] [--loss-clips 384]
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import gestures_root, matmul_flops_per_second, peak_rss_mb

from fixtures.launch import cpu_launch_command, cpu_launch_env

HERE = Path(__file__).resolve().parent


def build_data(work: Path) -> tuple[Path, str]:
    """The gestures dataset (signer-independent train/test), built with build-dataset."""
    from signclip_hf.data import build_dataset

    root, name = gestures_root()
    output = work / "dataset"
    dataset, report = build_dataset(root, output=output, signer_split=0.2, seed=0, num_proc=2)
    return output, f"{name} ({report.split_sizes})"


def base_config(dataset: Path, output: Path, batch_size: int, **overrides) -> dict:
    config = {
        "model": {"pose_layers": 4},
        "data": {"paths": [str(dataset)], "validation_split": None, "augmentation": None},
        "optim": {"lr": 1e-4, "warmup_steps": 5, "scheduler": "constant"},
        "batch_size": batch_size,
        "output_dir": str(output),
        "checkpoint_every": None,
        "log_every": 1,
        "seed": 0,
    }
    for key, value in overrides.items():
        section, _, leaf = key.partition(".")
        if leaf:
            config[section][leaf] = value
        else:
            config[key] = value
    return config


def worker(config_path: str) -> None:
    """One `pretrain()` run (under accelerate launch for several processes); each rank saves its peak memory."""
    from signclip_hf.training import PretrainConfig, pretrain

    config = PretrainConfig.from_dict(json.loads(Path(config_path).read_text()), source=config_path)
    pretrain(config)
    rank = int(os.environ.get("RANK", 0))
    peak_mb = (
        torch.cuda.max_memory_allocated() / 2**20
        if torch.cuda.is_available()
        else peak_rss_mb()
    )
    Path(config.output_dir, f"peak_memory_{rank}.json").write_text(json.dumps({"peak_mb": peak_mb}))


def launch(config: dict, processes: int, work: Path, name: str) -> dict:
    """Run a worker; returns clips/s (median after 2 warm-up logs), peak memory and the logged losses."""
    path = work / f"{name}.json"
    path.write_text(json.dumps(config))
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    if processes == 1:
        command = [sys.executable, __file__, "--worker", str(path)]
    else:
        if torch.cuda.device_count() < processes:
            env = cpu_launch_env(max(1, (os.cpu_count() or 2) // processes))
        command = cpu_launch_command(processes, config.get("mixed_precision", "no")) + [__file__, "--worker", str(path)]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    output = Path(config["output_dir"])
    logs = [json.loads(line) for line in (output / "log.jsonl").read_text().splitlines()]
    speeds = [r["clips_per_s"] for r in logs[2:]] or [r["clips_per_s"] for r in logs]
    peaks = [json.loads(p.read_text())["peak_mb"] for p in sorted(output.glob("peak_memory_*.json"))]
    return {
        "clips_per_s": statistics.median(speeds),
        "peak_mb_per_process": max(peaks),
        "losses": [r["loss"] for r in logs],
        "epochs": [r["epoch"] for r in logs],
        "wall_s": wall,
    }


def measure_mfu(dataset: Path, batch_size: int, rounds: int) -> dict:
    """Model FLOP/s of a training step ÷ matmul FLOP/s, fp32 and bf16 (autocast, as Accelerate does)."""
    from torch.utils.flop_counter import FlopCounterMode

    from signclip_hf.data import LengthGroupedBatchSampler, SignCLIPCollator, load_saved
    from signclip_hf.model_factory import ModelSpec, build_model, build_processor
    from signclip_hf.training import distributed_contrastive_loss

    torch.manual_seed(0)
    spec = ModelSpec(pose_layers=4)
    model, processor = build_model(spec).train(), build_processor(spec)
    train = load_saved(dataset)["train"].with_format("numpy")
    indices = next(iter(LengthGroupedBatchSampler.from_dataset(train, batch_size, drop_last=True, seed=0)))
    batch = SignCLIPCollator(processor)([train[int(i)] for i in indices])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5, betas=(0.9, 0.98), fused=True)

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            outputs = model(**batch)
        loss = distributed_contrastive_loss(outputs.pose_embeds.float(), outputs.text_embeds.float(), model.score)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        optimizer.step()
        optimizer.zero_grad()

    with FlopCounterMode(display=False) as counter:
        step(False)
    flops = counter.get_total_flops()
    result = {"flops_per_step": flops, "batch_shape": list(batch["pose_values"].shape)}
    result["text_len"] = batch["input_ids"].shape[1]
    for name, bf16, dtype in (("fp32", False, torch.float32), ("bf16", True, torch.bfloat16)):
        step(bf16)  # warm-up
        times, peaks = [], []
        for _ in range(rounds):
            peaks.append(matmul_flops_per_second(dtype))
            start = time.perf_counter()
            step(bf16)
            times.append(time.perf_counter() - start)
        step_s, peak = statistics.median(times), statistics.median(peaks)
        result[name] = {
            "step_s": step_s,
            "clips_per_s": batch_size / step_s,
            "model_gflops": flops / step_s / 1e9,
            "matmul_gflops": peak / 1e9,
            "mfu": flops / step_s / peak,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--loss-clips", type=int, default=384, help="train clips of the 3-epoch loss run (0 = all)")
    parser.add_argument("--steps", type=int, default=6, help="steps of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per precision for the MFU")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="signclip-pretrain-bench-") as tmp:
        work = Path(tmp)
        dataset, data_name = build_data(work)
        mfu = measure_mfu(dataset, args.batch_size, args.rounds)

        # 3 epochs on a subset of the train split (same signers), bf16
        from signclip_hf.data import load_saved

        train = load_saved(dataset)["train"]
        subset = train.shuffle(seed=0).select(range(min(args.loss_clips or len(train), len(train))))
        subset.save_to_disk(str(work / "subset"))
        loss_config = base_config(work / "subset", work / "loss", args.batch_size, epochs=3, mixed_precision="bf16")
        loss_run = launch(loss_config, 1, work, "loss")

        runs = {}
        for precision, processes in (("fp32", 1), ("bf16", 1), ("fp32", 2), ("bf16", 2)):
            name = f"{precision}_{processes}proc"
            mixed = "no" if precision == "fp32" else "bf16"
            config = base_config(dataset, work / name, args.batch_size, max_steps=args.steps, mixed_precision=mixed)
            runs[name] = launch(config, processes, work, name)
            runs[name].pop("losses"), runs[name].pop("epochs")

    losses, epochs = loss_run["losses"], loss_run["epochs"]
    first, last = statistics.mean(losses[:3]), statistics.mean(losses[-3:])
    summary = {
        "benchmark": "pretrain",
        "device": "cuda" if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)",
        "data": data_name,
        "batch_size_per_process": args.batch_size,
        "mfu": mfu,
        "loss_run": {
            "clips": len(subset), "epochs": 3, "steps": len(losses), "first_loss": first, "last_loss": last,
            "drop": 1 - last / first, "last_epoch_logged": max(epochs), "clips_per_s": loss_run["clips_per_s"],
        },
        "runs": runs,
        "total_s": time.perf_counter() - start,
    }  # fmt: skip

    print(f"\nSignCLIP pretraining benchmark on {summary['device']}, data: {data_name}")
    shape = mfu["batch_shape"]
    print(f"batch {args.batch_size}/process, step FLOPs {mfu['flops_per_step'] / 1e9:.1f} G (pose batch {shape})")
    print(f"{'precision':<10}{'step s':>9}{'clips/s':>9}{'model GFLOP/s':>15}{'matmul GFLOP/s':>16}{'MFU':>7}")
    for name in ("fp32", "bf16"):
        m = mfu[name]
        print(
            f"{name:<10}{m['step_s']:>9.2f}{m['clips_per_s']:>9.1f}{m['model_gflops']:>15.1f}"
            f"{m['matmul_gflops']:>16.1f}{m['mfu']:>7.2f}"
        )
    print(f"\n{'run':<14}{'clips/s':>9}{'peak RSS MB/process':>21}{'wall s':>8}")
    for name, run in runs.items():
        print(f"{name:<14}{run['clips_per_s']:>9.1f}{run['peak_mb_per_process']:>21.0f}{run['wall_s']:>8.0f}")
    loss = summary["loss_run"]
    print(
        f"\nloss over 3 epochs ({loss['clips']} clips, {loss['steps']} steps, bf16): first {first:.3f} -> last "
        f"{last:.3f} ({100 * loss['drop']:.0f}% drop; target >= 50%)"
    )
    print(f"total {summary['total_s']:.0f} s")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
