"""Released-size contrastive training step on the CPU: ours vs the original scheme, fp32 and bf16.

Both towers at the released size (bert-base text tower, 12-layer hidden-768 pose tower), batch 32,
Spread-the-Sign-like clip lengths. Ours: SDPA attention, length-grouped batches padded to the longest clip;
original (fairseq MMPT): every clip padded to 256 frames, eager attention; the same precision on both
sides. Before timing, one batch of the same clips goes through both schemes in fp32 to show that the
losses are identical (padding is masked, so only the speed may differ). Last, the memory that
`gradient_checkpointing: true` (pretraining config) saves: peak RSS growth of one fp32 training step with and
without it, each in a fresh process.

    python benchmarks/train_step_bench.py [--steps 3] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch
from common import proc_status_mb, report, stsl_like_lengths
from gpu_bench import ORIGINAL, OURS, Scheme, build_model, make_batches, matmul_peak, train_rows
from signclip_hf.modeling import signclip_loss


def loss_difference(size: str, lengths, batch_size: int) -> float:
    """|loss(ours) - loss(original)| on one batch of the same clips, fp32."""
    ours = build_model(size, "sdpa", torch.device("cpu")).eval()  # no dropout: the same function on both sides
    original = build_model(size, "eager", torch.device("cpu")).eval()
    original.load_state_dict(ours.state_dict())
    values, mask, input_ids = make_batches(lengths[:batch_size], batch_size, 256, torch.device("cpu"))[0]
    width = int(mask.sum(1).max())
    with torch.no_grad():
        padded = signclip_loss(original(input_ids=input_ids, pose_values=values, pose_attention_mask=mask).logits_per_pose)
        trimmed = signclip_loss(
            ours(input_ids=input_ids, pose_values=values[:, :width], pose_attention_mask=mask[:, :width]).logits_per_pose
        )
    return float((padded - trimmed).abs())


def step_memory(size: str, lengths, batch_size: int, checkpointing: bool) -> float:
    """Peak RSS growth (MiB) of one fp32 training step (forward + backward), optionally with checkpointing."""
    model = build_model(size, "sdpa", torch.device("cpu"))
    if checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    values, mask, input_ids = make_batches(lengths[:batch_size], batch_size, None, torch.device("cpu"))[0]
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
    before = proc_status_mb("VmRSS")
    signclip_loss(model(input_ids=input_ids, pose_values=values, pose_attention_mask=mask).logits_per_pose).backward()
    return proc_status_mb("VmHWM") - before


def checkpointing_rows(size: str, batch_size: int) -> list[dict]:
    rows = []
    for checkpointing in (False, True):
        command = [sys.executable, __file__, "--size", size, "--batch-size", str(batch_size)]
        done = subprocess.run(command + ["--step-memory", str(int(checkpointing))], capture_output=True, text=True, check=True)
        rows.append({"gradient checkpointing": checkpointing, "step peak MiB": json.loads(done.stdout)["mib"]})
    rows[1]["saved"] = 1 - rows[1]["step peak MiB"] / rows[0]["step peak MiB"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=["released", "tiny"], default="released")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--dtypes", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"])
    parser.add_argument("--step-memory", type=int, choices=[0, 1], help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    cpu = torch.device("cpu")
    lengths = stsl_like_lengths(args.batch_size * (args.steps + 1))
    if args.step_memory is not None:
        print(json.dumps({"mib": step_memory(args.size, lengths, args.batch_size, bool(args.step_memory))}))
        return
    difference = loss_difference(args.size, lengths, args.batch_size)
    dtypes = {"fp32": torch.float32, "bf16": torch.bfloat16}
    peak = {dtypes[label]: matmul_peak(cpu, dtypes[label], 2048) for label in args.dtypes}
    for label in args.dtypes:
        dtype = dtypes[label]
        schemes = (
            Scheme(f"ours ({label}, SDPA, length-grouped)", dtype, OURS.attention, OURS.pad_to),
            Scheme(f"original ({label}, eager, pad-to-256)", dtype, ORIGINAL.attention, ORIGINAL.pad_to),
        )
        rows = train_rows(args.size, lengths, args.batch_size, args.steps, cpu, peak, schemes)
        report(
            f"training step, {args.size} size, batch {args.batch_size}, {label}, CPU",
            rows,
            {"loss_abs_diff_ours_vs_original_fp32": difference, "matmul_gflops": peak[dtype] / 1e9},
        )
    report(f"gradient checkpointing, {args.size} size, batch {args.batch_size}, one fp32 step", checkpointing_rows(args.size, args.batch_size))


if __name__ == "__main__":
    main()
